#!/usr/bin/env bash
# Installs a Debian package that a project script needs, when its command is missing (with
# sudo unless root; `apt-get update` only if the first attempt fails).
# usage: scripts/apt-install.sh COMMAND [PACKAGE]     (PACKAGE defaults to COMMAND)
set -uo pipefail
cmd="${1:?usage: apt-install.sh COMMAND [PACKAGE]}"
pkg="${2:-$cmd}"
command -v "$cmd" >/dev/null && exit 0
printf '[apt-install] installing %s from Debian\n' "$pkg" >&2
sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
$sudo apt-get install -y "$pkg" >/dev/null 2>&1 ||
  { $sudo apt-get update >/dev/null && $sudo apt-get install -y "$pkg" >/dev/null; } ||
  { printf '[apt-install] cannot install %s\n' "$pkg" >&2; exit 2; }
