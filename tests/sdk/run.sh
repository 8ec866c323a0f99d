#!/usr/bin/env bash
# Conformance of `setphoto serve` with the official Slack SDKs.
#
#   tests/sdk/run.sh [python|node|all]        (default: all)
#
# Installs the SDKs (idempotently) under target/sdk/:
#   python: a virtualenv at target/sdk/venv with slack_sdk==3.47.0 and slack_bolt==1.21.0
#   node:   @slack/web-api from tests/sdk/node/package-lock.json into target/sdk/node
# then starts `setphoto serve` on a free loopback port with a fresh data folder, creates
# tokens, runs tests/sdk/python/test_slack_sdk.py and/or tests/sdk/node/test_web_api.mjs
# against it, and stops the server whatever happens.
#
# Environment:
#   SETPHOTO_BIN      the binary (default: target/debug/setphoto; build it with
#                     `cargo build --all-features`)
#   SETPHOTO_SDK_DIR  where the SDKs are installed (default: target/sdk)
#   SETPHOTO_DATABASE the server's --database (and token create's), e.g. postgres://...
#                     (default: SQLite in the fresh data folder)
#   SETPHOTO_STORE    the server's --store, e.g. s3://BUCKET/PREFIX (with the AWS_*
#                     variables set; default: the fresh data folder)
#
# Exit status: 0 all ran tests passed (node missing or older than 20: skipped, with a
# line saying so); 1 a test failed or the server misbehaved; 2 usage; 77 no test failed
# but an SDK could not be installed (no python3/venv/pip, no registry): "skipped".
set -uo pipefail

readonly EXIT_FAILED=1
readonly EXIT_USAGE=2
readonly EXIT_UNAVAILABLE=77
readonly PY_SDK_VERSION=3.47.0
readonly PY_BOLT_VERSION=1.21.0
readonly RATE_LIMIT=20 # calls a minute per token and method (the serve default)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly ROOT
readonly HERE="$ROOT/tests/sdk"
BIN=${SETPHOTO_BIN:-$ROOT/target/debug/setphoto}
SDK_DIR=${SETPHOTO_SDK_DIR:-$ROOT/target/sdk}

which=${1:-all}
case "$which" in
python | node | all) ;;
-h | --help)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "usage: $0 [python|node|all]" >&2
    exit "$EXIT_USAGE"
    ;;
esac

say() { echo "sdk: $*"; }

if [ ! -x "$BIN" ]; then
    say "FAIL: no setphoto binary at $BIN (cargo build --all-features, or set SETPHOTO_BIN)"
    exit "$EXIT_FAILED"
fi

mkdir -p "$SDK_DIR" || exit "$EXIT_FAILED"
SDK_DIR=$(cd "$SDK_DIR" && pwd)

# One installer at a time (two test runs sharing target/ must not interleave installs).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$SDK_DIR/.lock"
    flock 9
fi

# --- installs ---------------------------------------------------------------------------

install_python() {
    local venv="$SDK_DIR/venv"
    if [ -x "$venv/bin/python" ] &&
        "$venv/bin/python" -c "import sys, slack_sdk.version as v, slack_bolt.version as b; sys.exit(v.__version__ != '$PY_SDK_VERSION' or b.__version__ != '$PY_BOLT_VERSION')" 2>/dev/null; then
        return 0
    fi
    if ! command -v python3 >/dev/null 2>&1; then
        say "cannot install slack_sdk: python3 not found"
        return 1
    fi
    say "installing slack_sdk==$PY_SDK_VERSION and slack_bolt==$PY_BOLT_VERSION into $venv"
    rm -rf "$venv"
    if ! python3 -m venv "$venv"; then
        say "cannot install slack_sdk: python3 -m venv failed (Debian: apt-get install python3-venv)"
        rm -rf "$venv"
        return 1
    fi
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "slack_sdk==$PY_SDK_VERSION" "slack_bolt==$PY_BOLT_VERSION"; then
        say "cannot install slack_sdk: pip install failed (no access to the package index?)"
        rm -rf "$venv"
        return 1
    fi
}

# 0: ready; 1: cannot install; 2: node absent or too old (skip).
install_node() {
    local dir="$SDK_DIR/node"
    if ! command -v node >/dev/null 2>&1; then
        say "skip: node not found; the @slack/web-api tests did not run"
        return 2
    fi
    local major
    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    if [ "$major" -lt 20 ]; then
        say "skip: node $(node --version) is older than 20, which @slack/web-api 8 needs; the Node tests did not run"
        return 2
    fi
    if cmp -s "$HERE/node/package-lock.json" "$dir/.installed-lock" &&
        cmp -s "$HERE/node/package.json" "$dir/package.json" &&
        [ -f "$dir/node_modules/@slack/web-api/package.json" ]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        say "cannot install @slack/web-api: npm not found"
        return 1
    fi
    say "installing @slack/web-api (tests/sdk/node/package-lock.json) into $dir"
    rm -rf "$dir"
    mkdir -p "$dir" &&
        cp "$HERE/node/package.json" "$HERE/node/package-lock.json" "$dir/" || return 1
    if ! npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error; then
        say "cannot install @slack/web-api: npm ci failed (no access to the registry?)"
        return 1
    fi
    cp "$HERE/node/package-lock.json" "$dir/.installed-lock"
}

run_python=false
run_node=false
unavailable=false
if [ "$which" = python ] || [ "$which" = all ]; then
    if install_python; then run_python=true; else unavailable=true; fi
fi
if [ "$which" = node ] || [ "$which" = all ]; then
    install_node
    case $? in
    0) run_node=true ;;
    1) unavailable=true ;;
    esac
fi
exec 9>&- # release the install lock

if ! $run_python && ! $run_node; then
    if $unavailable; then
        say "skipped: the SDKs could not be installed"
        exit "$EXIT_UNAVAILABLE"
    fi
    exit 0
fi

# --- the server -------------------------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/setphoto-sdk.XXXXXX") || exit "$EXIT_FAILED"
DATA="$WORK/data"
LOG="$WORK/serve.log"
SERVER_PID=

stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        # It drains for a few seconds at most; after 15 s it is killed.
        for _ in $(seq 150); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=
}
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

BACKENDS=()
[ -n "${SETPHOTO_DATABASE:-}" ] && BACKENDS+=(--database "$SETPHOTO_DATABASE")
[ -n "${SETPHOTO_STORE:-}" ] && BACKENDS+=(--store "$SETPHOTO_STORE")
"$BIN" serve --listen 127.0.0.1:0 --data "$DATA" --rate-limit "$RATE_LIMIT" ${BACKENDS[@]+"${BACKENDS[@]}"} 2>"$LOG" &
SERVER_PID=$!

line=
for _ in $(seq 200); do
    line=$(grep -m1 '^setphoto serve: listening on ' "$LOG" 2>/dev/null)
    [ -n "$line" ] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        break
    fi
    sleep 0.05
done
if [ -z "$line" ]; then
    say "FAIL: the server did not print its start-up line; its stderr:"
    cat "$LOG"
    exit "$EXIT_FAILED"
fi
# setphoto serve: listening on http://127.0.0.1:PORT (API http://127.0.0.1:PORT/api/, database ENGINE, store KIND WHERE)
ADDR=$(sed -n 's/^setphoto serve: listening on \(http:\/\/[^ ]*\) (API \([^ ,]*\), .*)$/\1/p' <<<"$line")
API=$(sed -n 's/^setphoto serve: listening on \(http:\/\/[^ ]*\) (API \([^ ,]*\), .*)$/\2/p' <<<"$line")
if [ -z "$ADDR" ] || [ "$API" != "$ADDR/api/" ]; then
    say "FAIL: unexpected start-up line: $line"
    exit "$EXIT_FAILED"
fi
say "server at $ADDR (pid $SERVER_PID); $line"

token() { # USER [SCOPES]
    local args=(token create --user "$1" --data "$DATA")
    [ -n "${SETPHOTO_DATABASE:-}" ] && args+=(--database "$SETPHOTO_DATABASE")
    [ $# -ge 2 ] && args+=(--scopes "$2")
    "$BIN" "${args[@]}"
}

# What both test scripts read.
export SETPHOTO_API_URL="$API"
export SETPHOTO_PUBLIC_URL="$ADDR"
export SETPHOTO_BIN="$BIN"
export SETPHOTO_TESTDATA="$ROOT/testdata/inputs"
export SETPHOTO_RATE_LIMIT="$RATE_LIMIT"
export PYTHONDONTWRITEBYTECODE=1

# Each language gets its own users, so the two runs cannot see each other's avatars.
tokens_for() { # USER
    local user=$1 t
    t=$(token "$user") || return 1
    export SETPHOTO_USER="$user" SETPHOTO_TOKEN="$t"
    t=$(token "$user") || return 1
    export SETPHOTO_TOKEN_RATE="$t"
    t=$(token "$user" users:read) || return 1
    export SETPHOTO_TOKEN_READONLY="$t"
    t=$(token "${user}OTHER") || return 1
    export SETPHOTO_OTHER_USER="${user}OTHER" SETPHOTO_OTHER_TOKEN="$t"
    t=$(token "$user" users.profile:read,users:read,identity.basic) || return 1
    export SETPHOTO_TOKEN_BASIC="$t"
}

failed=false
if $run_python; then
    say "== python: slack_sdk $PY_SDK_VERSION, slack_bolt $PY_BOLT_VERSION"
    if ! tokens_for U0SDKPY; then
        say "FAIL: token create failed"
        exit "$EXIT_FAILED"
    fi
    if ! "$SDK_DIR/venv/bin/python" "$HERE/python/test_slack_sdk.py"; then
        failed=true
    fi
fi
if $run_node; then
    say "== node: @slack/web-api $(node -p "require('$SDK_DIR/node/node_modules/@slack/web-api/package.json').version")"
    if ! tokens_for U0SDKNODE; then
        say "FAIL: token create failed"
        exit "$EXIT_FAILED"
    fi
    if ! SETPHOTO_SDK_NODE_DIR="$SDK_DIR/node" node --test-reporter=spec "$HERE/node/test_web_api.mjs"; then
        failed=true
    fi
fi

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    say "FAIL: the server exited during the tests"
    failed=true
fi
if [ "$(wc -l <"$LOG")" -gt 1 ]; then
    say "the server logged:"
    sed -n '2,$p' "$LOG"
fi

if $failed; then
    say "FAILED"
    exit "$EXIT_FAILED"
fi
if $unavailable; then
    say "the tests that ran passed, but an SDK could not be installed"
    exit "$EXIT_UNAVAILABLE"
fi
say "all passed"
exit 0
