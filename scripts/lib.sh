# Sourced by robustness.sh, soak.sh and bench/compare.sh: the steps around a release server.
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
