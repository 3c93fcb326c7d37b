#!/usr/bin/env bash
# Installs the system packages podbench needs on Debian/Ubuntu (liburing-dev and pkg-config for
# the io_uring transports, plus any packages named) and checks the Swift toolchain. Safe to run
# again. Scripts source this file and call `podbench_setup [PACKAGE...]`; run directly, it takes
# the packages as arguments.

podbench_setup() {
  local packages=(liburing-dev pkg-config "$@")
  local missing=()
  local p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    local SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "podbench setup: installing ${missing[*]}" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >&2
  fi

  if ! command -v swift >/dev/null 2>&1; then
    local d
    for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
      [ -x "$d/swift" ] && export PATH="$d:$PATH"
    done
  fi
  command -v swift >/dev/null 2>&1 || {
    echo "podbench setup: no Swift toolchain found: install Swift 6.1 or later from https://swift.org/install and run again" >&2
    return 2
  }
}

# Writes a haproxy configuration for a plain TCP proxy on loopback: `podbench_haproxy_config FILE
# LISTEN-PORT TARGET-PORT` (the comparison scripts put it in front of podbench's server).
podbench_haproxy_config() {
  cat >"$1" <<CFG
global
    maxconn 64
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend podbench
    bind 127.0.0.1:$2
    default_backend server
backend server
    server one 127.0.0.1:$3
CFG
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  podbench_setup "$@"
fi
