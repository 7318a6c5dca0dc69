#!/usr/bin/env bash
# Line coverage of src/ under the whole test suite, as the guide measures its own with
# `pytest --cov`: every unit and black-box test, the `duplex` processes the tests start included.
# Prints one line per file below 80 %, then the total as its last line: `coverage: 91.3%`.
#
#   scripts/coverage.sh            # COVERAGE_TIMEOUT (600 s per test binary)
#
# Installs cargo-tarpaulin from crates.io when it is missing. Its LLVM engine instruments the
# build (`-C instrument-coverage`) and reads the profiles itself, so it needs no LLVM tools
# (rustc here is built on LLVM 22; Debian's llvm-19 cannot read its profiles), and every process
# the tests start writes its own profile. The JSON report is left in target/coverage/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
timeout_s="${COVERAGE_TIMEOUT:-600}"
log() { printf '[coverage] %s\n' "$*" >&2; }

if ! cargo tarpaulin --version >/dev/null 2>&1; then
  log "installing cargo-tarpaulin (crates.io)"
  cargo install cargo-tarpaulin --locked >/dev/null 2>&1 || { log "cannot install cargo-tarpaulin"; exit 2; }
fi
cd "$root"
out="$root/target/coverage"
mkdir -p "$out"
log "running the test suite under cargo tarpaulin (a few minutes)"
# (The ptrace engine segfaults following the processes the black-box tests start.)
cargo tarpaulin --engine llvm --skip-clean --timeout "$timeout_s" \
  --target-dir "$root/target/coverage-build" --include-files 'src/*' \
  --out Json --output-dir "$out" >"$out/tarpaulin.log" 2>&1 || {
  log "cargo tarpaulin failed; see $out/tarpaulin.log"
  tail -20 "$out/tarpaulin.log" >&2
  exit 1
}
python3 - "$out/tarpaulin-report.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
covered = total = 0
rows = []
for f in report["files"]:
    path = "/".join(f["path"])
    if "/src/" not in "/" + path:
        continue
    c, t = f["covered"], f["coverable"]
    covered += c
    total += t
    if t and c / t < 0.8:
        rows.append((c / t, path[path.index("src/"):], c, t))
for share, path, c, t in sorted(rows):
    print(f"below 80%: {path}: {100 * share:.1f}% ({c}/{t} lines)")
print(f"coverage: {100 * covered / max(total, 1):.1f}%")
PY
