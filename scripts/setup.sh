#!/usr/bin/env bash
# Installs the system packages podbench needs on Debian/Ubuntu (liburing-dev for the io_uring
# transports, linked statically into the binary, plus any packages named) and checks the Swift toolchain. Safe to run
# again. Scripts source this file and call `podbench_setup [PACKAGE...]`; run directly, it takes
# the packages as arguments.

podbench_setup() {
  local packages=(liburing-dev "$@")
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

# Writes an nginx configuration for an HTTP reverse proxy on loopback, as docs/http.md sets it
# (HTTP/1.1 upstream with keep-alive): `podbench_nginx_config FILE LISTEN-PORT TARGET-PORT DIR
# H2-PORT` (DIR: its pid, log and temporary files; H2-PORT: HTTP/2 over cleartext, which nginx 1.22
# takes on a port of its own and passes on as HTTP/1.1). One process (`master_process off`), so that
# `--via-stats pid:` reads the process that does the work. Run: nginx -c FILE. The same text as
# the preset's HTTP mode (ProxyLauncher.nginxConfiguration; ProxyConfigurationTests holds them equal).
podbench_nginx_config() {
  if [ -z "$5" ]; then
    echo "podbench_nginx_config FILE LISTEN-PORT TARGET-PORT DIR H2-PORT: five arguments" >&2
    return 2
  fi
  mkdir -p "$4"
  cat >"$1" <<CFG
master_process off;
daemon off;
pid $4/nginx.pid;
error_log $4/nginx-error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $4/nginx-body;
    proxy_temp_path $4/nginx-proxy;
    fastcgi_temp_path $4/nginx-fastcgi;
    uwsgi_temp_path $4/nginx-uwsgi;
    scgi_temp_path $4/nginx-scgi;
    upstream podbench { server 127.0.0.1:$3; keepalive 128; keepalive_requests 1000000; keepalive_time 1h; }
    keepalive_requests 1000000;
    keepalive_time 1h;
    client_max_body_size 8m;
    client_body_buffer_size 1m;
    http2_max_concurrent_streams 128;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_max_temp_file_size 0;
    server {
        listen 127.0.0.1:$2;
        location / { proxy_pass http://podbench; }
    }
    server {
        listen 127.0.0.1:$5 http2;
        location / { proxy_pass http://podbench; }
    }
}
CFG
}

# Writes an nginx configuration for a web server on loopback serving the files in DIR/www (what
# `http-load` and wrk are held to each other against, scripts/compare-http.sh): `podbench_nginx_static_config
# FILE LISTEN-PORT DIR [H2C-PORT]`. One process, keep-alive without a request limit, no access log;
# with H2C-PORT, the same files over HTTP/2 with prior knowledge (h2c) there too, without sendfile:
# nginx 1.22's HTTP/2 with sendfile answers one stream at a time 44 ms late (a delayed ACK), for
# h2load as for podbench (measured here, docs/http.md).
podbench_nginx_static_config() {
  mkdir -p "$3/www"
  cat >"$1" <<CFG
master_process off;
daemon off;
pid $3/nginx.pid;
error_log $3/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $3/body;
    proxy_temp_path $3/proxy;
    fastcgi_temp_path $3/fastcgi;
    uwsgi_temp_path $3/uwsgi;
    scgi_temp_path $3/scgi;
    default_type application/octet-stream;
    sendfile on;
    open_file_cache max=16;
    server {
        listen 127.0.0.1:$2;
        keepalive_requests 1000000;
        keepalive_time 1h;
        root $3/www;
    }
${4:+    server {
        listen 127.0.0.1:$4 http2;
        sendfile off;
        keepalive_requests 1000000;
        keepalive_time 1h;
        root $3/www;
    \}}
}
CFG
}

# The frame of the HTTP comparison scripts (compare-http.sh, compare-nio.sh): `podbench_http_frame
# NAME "$@"` reads --cpu C,S --rounds N --seconds S --size BYTES into $client_cpu $server_cpu
# $rounds $seconds $size, installs wrk and nginx-light if missing, builds the release binary if
# there is none and sets $bin, makes $work (removed on exit, when every process in $pids is killed)
# and starts nginx on the server CPU serving a $size-byte file, /body, on $nginx_port (HTTP/1.1)
# and $h2_port (HTTP/2, h2c).
podbench_http_frame() {
  local name=$1
  shift
  client_cpu=0 server_cpu=1 rounds=6 seconds=5 size=64
  while [ $# -gt 0 ]; do
    case "$1" in
      --cpu) IFS=, read -r client_cpu server_cpu <<<"$2"; shift 2 ;;
      --rounds) rounds=$2; shift 2 ;;
      --seconds) seconds=$2; shift 2 ;;
      --size) size=$2; shift 2 ;;
      *) echo "unknown option $1 (use --cpu C,S --rounds N --seconds S --size BYTES)" >&2; exit 2 ;;
    esac
  done
  podbench_setup wrk nghttp2-client nginx-light python3 iproute2
  bin=.build/release/podbench
  [ -x "$bin" ] || swift build -c release --product podbench >&2
  work=$(mktemp -d "/tmp/podbench-$name-XXXXXX")
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
  nginx_port=$((20000 + RANDOM % 20000))
  h2_port=$((nginx_port + 2))
  podbench_nginx_static_config "$work/nginx.conf" "$nginx_port" "$work" "$h2_port"
  head -c "$size" /dev/urandom >"$work/www/body"
  taskset -c "$server_cpu" nginx -c "$work/nginx.conf" 2>"$work/nginx.log" &
  pids+=($!)
  podbench_wait_listening "$nginx_port" "${pids[-1]}" || { echo "nginx did not start:" >&2; cat "$work/nginx.log" >&2; exit 1; }
}

# Waits until something listens on TCP port $1 (without connecting); fails when process $2 is gone first.
podbench_wait_listening() {
  for _ in $(seq 1 100); do
    [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# The floors a speed figure is quoted with: `podbench calibrate`'s cache-line and futex round trips.
podbench_http_floors() {
  "$bin" calibrate --trials 3 --duration 100ms 2>/dev/null | grep -E 'cacheline-roundtrip-cross|futex-wake-roundtrip-cross' || true
}

# Writes a haproxy configuration for an HTTP proxy on loopback (mode http, keep-alive both
# sides): `podbench_haproxy_http_config FILE LISTEN-PORT TARGET-PORT`.
podbench_haproxy_http_config() {
  cat >"$1" <<CFG
global
    maxconn 64
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend podbench
    bind 127.0.0.1:$2
    default_backend server
backend server
    http-reuse always
    server one 127.0.0.1:$3
CFG
}

# The frame of the hop comparison scripts (compare-patterns.sh, compare-proxies.sh):
# `podbench_hop_frame NAME PINNING` installs haproxy and socat if missing, builds the release
# binary if there is none, sets $bin and $work (a fresh folder, removed on exit, when every
# process in the array $pids is killed too) and prints the machine line with both proxies'
# versions. `podbench_hops ARGS...` then runs `podbench run "${common[@]}" ARGS...` and prints the
# run's "Hops" lines; when the run fails it shows podbench's errors and exits.
podbench_hop_frame() {
  podbench_setup haproxy socat
  bin=.build/release/podbench
  [ -x "$bin" ] || swift build -c release --product podbench >&2
  work=$(mktemp -d "/tmp/podbench-$1-XXXXXX")
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
  echo "machine: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs;" \
    "pinning $2; $(haproxy -v | head -1 | cut -d' ' -f1-3); $(socat -V | grep -m1 'socat version' | cut -d' ' -f1-3)"
}

podbench_hops() {
  "$bin" run "${common[@]}" "$@" 2>"$work/err" | sed -n '/^Hops:/,/^[^ H]/p' | grep -v '^Hops' ||
    { cat "$work/err" >&2; exit 1; }
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  podbench_setup "$@"
fi
