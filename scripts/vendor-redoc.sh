#!/usr/bin/env bash
# Replaces vendor/redoc/ with ReDoc VERSION (2.x) from the npm registry, checking the tarball
# against the registry's sha512 integrity. Run by hand when upgrading; builds never download.
#   scripts/vendor-redoc.sh 2.5.4
set -euo pipefail
version="${1:?usage: vendor-redoc.sh VERSION}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
meta="$(curl -fsS -m 60 "https://registry.npmjs.org/redoc/$version")"
url="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["dist"]["tarball"])' "$meta")"
integrity="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["dist"]["integrity"])' "$meta")"
curl -fsS -m 120 -o "$work/redoc.tgz" "$url"
actual="sha512-$(openssl dgst -sha512 -binary "$work/redoc.tgz" | base64 -w0)"
[[ "$actual" == "$integrity" ]] || { echo "integrity mismatch: $actual != $integrity" >&2; exit 1; }
tar -xzf "$work/redoc.tgz" -C "$work"
cp "$work/package/bundles/redoc.standalone.js" "$work/package/bundles/redoc.standalone.js.LICENSE.txt" \
  "$root/vendor/redoc/"
cp "$work/package/LICENSE" "$root/vendor/redoc/LICENSE"
echo "vendor/redoc: ReDoc $version ($integrity); update vendor/redoc/README.md" >&2
