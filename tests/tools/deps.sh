#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# deps.sh: installs what building, running and testing ntm-gateway needs on
# Debian 12 (bookworm). Idempotent; run as root or with sudo available.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# (systemd: its systemd.pc says where meson installs the unit)
PACKAGES=(
  build-essential meson ninja-build pkg-config clang-format
  libuv1-dev libmosquitto-dev libsqlite3-dev libcurl4-openssl-dev libsystemd-dev
  libyaml-dev libcjson-dev zlib1g-dev systemd libexpat1-dev
  mosquitto mosquitto-clients openssl sqlite3 python3 python3-jsonschema valgrind strace
  clang-14 libclang-rt-14-dev valgrind
  gettext locales libunistring-dev
  libmicrohttpd-dev chromium prometheus
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps.sh: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# ntmctl's Vietnamese is tested under vi_VN.UTF-8: generate it when missing.
if ! locale -a 2>/dev/null | grep -qi '^vi_VN\.utf-\?8$'; then
  echo "deps.sh: generating the vi_VN.UTF-8 locale"
  $SUDO sed -i 's/^# *\(vi_VN\.UTF-8 UTF-8\)/\1/' /etc/locale.gen
  grep -q '^vi_VN\.UTF-8 UTF-8' /etc/locale.gen || echo 'vi_VN.UTF-8 UTF-8' | $SUDO tee -a /etc/locale.gen >/dev/null
  $SUDO locale-gen >/dev/null
fi
# Debian starts the packaged broker where it can; the tests and the demo run
# their own on a free loopback port and do not need it.
echo "deps.sh: all build and test dependencies are installed"
