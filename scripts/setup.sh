#!/usr/bin/env bash
# Set up a machine for Sideline: the system packages it needs (installed with
# apt-get when run as root, otherwise listed with the command to run), then the
# virtualenv with the package and all its extras. Safe to run again: it only
# does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

missing=()
have() { command -v "$1" >/dev/null 2>&1; }

have mosquitto || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
# systemd-python builds from source against libsystemd.
{ have pkg-config && pkg-config --exists libsystemd; } || missing+=(libsystemd-dev pkg-config)
have gcc || missing+=(gcc)
# Tests run PostgreSQL: the machine's server if one answers, else a throwaway
# cluster made with Debian's initdb/pg_ctl.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
# The agent's systemd unit is checked with systemd-analyze verify; the full-disk
# test mounts a private tmpfs with unshare (util-linux).
have systemd-analyze || missing+=(systemd)
have unshare || missing+=(util-linux)
have openssl || missing+=(openssl)  # test certificates for the broker's TLS listener
# Browser tests drive Debian's Chromium (Playwright's own download is not used).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# RTSP camera tests publish to and read from a real RTSP server (a small Perl one).
have rtsp-server-perl || missing+=(rtsp-server-perl)

if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "setup: installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/sideline-apt.log 2>&1 || {
      apt-get update -q >>/tmp/sideline-apt.log 2>&1
      apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/sideline-apt.log 2>&1 || {
        tail -20 /tmp/sideline-apt.log >&2
        echo "setup: apt-get install ${missing[*]} failed (log above)" >&2
        exit 1
      }
    }
  else
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: run: sudo apt-get install ${missing[*]}   (then run this again)" >&2
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.sideline-installed"
digest=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "setup: installing sideline[dev] into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[dev]"
  echo "$digest" >"$stamp"
fi
