# Sourced by robustness.sh, soak.sh, differential.sh, bench/run.sh and bench/compare.sh: the steps
# around a release server and the FastAPI original.
# Expects the caller's `log` function.

# build_duplex ROOT WORK: a release build and a fresh certificate in WORK; sets $duplex.
build_duplex() {
  log "building duplex (release)"
  (cd "$1" && cargo build --release --quiet) || return 2
  duplex="$1/target/release/duplex"
  "$duplex" cert --out-dir "$2" >/dev/null || return 2
}

# await_server URL LOG: waits up to 5 s for GET URL/status; on failure prints LOG.
await_server() {
  for _ in $(seq 50); do
    curl -sk -o /dev/null "$1/status" && return 0
    sleep 0.1
  done
  log "server did not start"
  cat "$2" >&2
  return 2
}

# setup_venv ROOT: bench/.venv with the FastAPI original at the pinned versions
# (bench/fastapi/requirements.txt), from PyPI; rebuilt when the requirements change. Sets $venv.
setup_venv() {
  venv="$1/bench/.venv"
  local requirements="$1/bench/fastapi/requirements.txt" stamp="$1/bench/.venv/.requirements"
  if [[ -x "$venv/bin/python" ]] && cmp -s "$requirements" "$stamp"; then
    return 0
  fi
  log "creating $venv (FastAPI original, from PyPI)"
  rm -rf "$venv"
  python3 -m venv "$venv" || return 2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" || return 2
  cp "$requirements" "$stamp"
}
