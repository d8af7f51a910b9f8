# Shared by the .ci/ensure-* scripts (sourced, not run).
#
# Each script provides one thing the tests need. When it cannot:
#   - under CI=true it prints "error: ..." and exits 1, so `make test` (and .ci/run) stops:
#     in CI a missing service is a broken build, never a quiet skip;
#   - locally it prints "note: ..." and exits 0; the tests that need the thing skip and say why.

# True when CI is set to true/1/yes (any case), as tests/needs.py reads it.
in_ci() {
  case "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" in
    true | 1 | yes) return 0 ;;
    *) return 1 ;;
  esac
}

# give_up MESSAGE: fail under CI, else note and succeed.
give_up() {
  if in_ci; then
    echo "error: $1 (CI=true: the tests that need it would fail)" >&2
    exit 1
  fi
  echo "note: $1; the tests that need it will skip"
  exit 0
}

# tcp_open HOST PORT: true when HOST:PORT accepts a TCP connection (bash's /dev/tcp, 2 s).
tcp_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# is_loopback HOST: a server we may start ourselves.
is_loopback() {
  case "$1" in 127.* | localhost | ::1 | "[::1]") return 0 ;; *) return 1 ;; esac
}

# url_part URL: sets URL_USER URL_HOST URL_PORT URL_DB from scheme://[user[:pw]@]host[:port][/db][?q]
url_parts() {
  local rest auth hostport
  rest="${1#*://}"
  rest="${rest%%\?*}"
  auth="${rest%%/*}"
  URL_DB=""
  [ "$auth" != "$rest" ] && URL_DB="${rest#*/}"
  hostport="${auth##*@}"
  URL_USER=""
  if [ "$hostport" != "$auth" ]; then
    URL_USER="${auth%@*}"
    URL_USER="${URL_USER%%:*}"
  fi
  URL_HOST="${hostport%:*}"
  URL_PORT="${hostport##*:}"
  if [ "$URL_HOST" = "$hostport" ]; then URL_PORT=""; fi
}
