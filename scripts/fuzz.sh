#!/usr/bin/env bash
# Runs every cargo-fuzz target under fuzz/ for a bounded time and prints one line per target
# with its executions; any panic (a crash) fails the run and leaves its input under
# fuzz/artifacts/<target>/.
#
# usage: scripts/fuzz.sh [TARGET...]        (default: all targets, FUZZ_SECONDS each)
# env:   FUZZ_SECONDS (60)
# Needs the nightly toolchain; installs cargo-fuzz from crates.io when missing. The corpus
# grows in fuzz/corpus/<target>/ (git-ignored) and is reused by the next run.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${FUZZ_SECONDS:-60}"
log() { printf '[fuzz] %s\n' "$*" >&2; }

rustup toolchain list | grep -q '^nightly' || { log "needs a nightly toolchain (rustup toolchain install nightly)"; exit 2; }
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked >/dev/null || { log "cannot install cargo-fuzz"; exit 2; }
fi

cd "$root/fuzz" || exit 2
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
# No sanitizer: duplex forbids unsafe code, so what fuzzing can find is a panic, and without
# ASan the targets run several times faster.
log "building ${#targets[@]} targets (release, no sanitizer)"
cargo +nightly fuzz build -s none >/dev/null 2>&1 ||
  cargo +nightly fuzz build -s none || exit 2

fail=0 lines=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  out="$(mktemp)"
  log "$target: $seconds s"
  cargo +nightly fuzz run -s none "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$out" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | awk '{s+=$1} END {print s+0}')
  corpus=$(find "corpus/$target" -type f | wc -l)
  if [[ $rc -eq 0 ]]; then
    verdict=PASS
  else
    verdict="FAIL (exit $rc; see fuzz/artifacts/$target/)"
    fail=1
    grep -m5 -E "panicked|SUMMARY|Test unit written" "$out" >&2
  fi
  lines+=("fuzz $target: $execs executions in $seconds s, corpus $corpus inputs: $verdict")
  rm -f "$out"
done
printf '%s\n' "${lines[@]}"
if [[ $fail -eq 0 ]]; then echo "fuzz: PASS"; else echo "fuzz: FAIL"; fi
exit $fail
