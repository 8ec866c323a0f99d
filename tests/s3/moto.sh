#!/usr/bin/env bash
# A loopback S3-compatible server for the `s3://` batch tests: moto's standalone server.
#
#   tests/s3/moto.sh install          install moto[server] (idempotent) and exit
#   tests/s3/moto.sh serve PORTFILE   install, then serve on a free loopback port, writing
#                                     the port to PORTFILE once it answers; runs until killed
#
# moto is installed into a virtualenv at $SETPHOTO_S3_DIR/venv (default target/s3/venv),
# pinned to MOTO_VERSION below; nothing is installed outside the target folder.
#
# Exit status: 0 installed (install) or killed (serve); 1 the server did not start;
# 2 usage; 77 moto could not be installed here (no python3/venv/pip, no registry).
set -uo pipefail

readonly MOTO_VERSION=5.2.5
readonly EXIT_FAILED=1
readonly EXIT_USAGE=2
readonly EXIT_UNAVAILABLE=77

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
S3_DIR=${SETPHOTO_S3_DIR:-$ROOT/target/s3}
VENV="$S3_DIR/venv"

say() { echo "s3: $*" >&2; }

install() {
    mkdir -p "$S3_DIR" || return "$EXIT_FAILED"
    # One installer at a time: parallel test binaries share target/.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$S3_DIR/.lock"
        flock 9
    fi
    if [ -x "$VENV/bin/python" ] &&
        "$VENV/bin/python" -c "import sys, moto; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
        return 0
    fi
    if ! command -v python3 >/dev/null 2>&1; then
        say "cannot install moto: python3 not found"
        return "$EXIT_UNAVAILABLE"
    fi
    say "installing moto[server]==$MOTO_VERSION into $VENV"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV"; then
        say "cannot install moto: python3 -m venv failed (Debian: apt-get install python3-venv)"
        rm -rf "$VENV"
        return "$EXIT_UNAVAILABLE"
    fi
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "moto[server]==$MOTO_VERSION" >&2; then
        say "cannot install moto: pip install failed (no registry?)"
        rm -rf "$VENV"
        return "$EXIT_UNAVAILABLE"
    fi
}

serve() {
    local portfile=$1
    # A free port from the kernel; moto binds it a moment later (a race no other test
    # on this loopback is likely to win; the caller sees a failed start if it does).
    local port
    port=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') ||
        return "$EXIT_FAILED"
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >&2 &
    local server=$!
    trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; exit 0' TERM INT
    for _ in $(seq 1 200); do
        if ! kill -0 "$server" 2>/dev/null; then
            say "moto_server exited before answering"
            return "$EXIT_FAILED"
        fi
        if "$VENV/bin/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
            echo "$port" >"$portfile.tmp" && mv "$portfile.tmp" "$portfile"
            wait "$server"
            return 0
        fi
        sleep 0.1
    done
    say "moto_server did not answer on port $port within 20 s"
    kill "$server" 2>/dev/null
    return "$EXIT_FAILED"
}

case "${1:-}" in
install) install ;;
serve)
    [ $# -eq 2 ] || { echo "usage: $0 serve PORTFILE" >&2; exit "$EXIT_USAGE"; }
    install || exit $?
    exec 9>&- # the install lock, which moto_server must not inherit
    serve "$2"
    ;;
*)
    echo "usage: $0 install | serve PORTFILE" >&2
    exit "$EXIT_USAGE"
    ;;
esac
