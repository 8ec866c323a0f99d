#!/usr/bin/env bash
# The reference decoders of the conformance and differential tests (tests/it/conformance.rs,
# tests/it/differential.rs): Pillow from PyPI, pinned, in a virtualenv under the target
# folder, beside Debian's djpeg (libjpeg-turbo-progs), which .ci/run installs.
#
#   tests/conformance/refs.sh     install Pillow (idempotent), print the venv's python
#
# Environment: SETPHOTO_REFS_DIR  where the venv goes (default target/conformance)
#
# Exit status: 0 ready (the python path on stdout); 77 Pillow could not be installed
# here (no python3/venv/pip, no registry): the tests skip, or fail under CI=true.
set -uo pipefail

readonly PILLOW_VERSION=13.0.0
readonly EXIT_UNAVAILABLE=77

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=${SETPHOTO_REFS_DIR:-$ROOT/target/conformance}
VENV="$DIR/venv"

say() { echo "refs: $*" >&2; }

mkdir -p "$DIR" || exit "$EXIT_UNAVAILABLE"
# One installer at a time: test threads and binaries share the target folder.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$DIR/.lock"
    flock 9
fi
if ! { [ -x "$VENV/bin/python" ] &&
    "$VENV/bin/python" -c "import sys, PIL; sys.exit(PIL.__version__ != '$PILLOW_VERSION')" 2>/dev/null; }; then
    if ! command -v python3 >/dev/null 2>&1; then
        say "cannot install Pillow: python3 not found"
        exit "$EXIT_UNAVAILABLE"
    fi
    say "installing pillow==$PILLOW_VERSION into $VENV"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >&2; then
        say "cannot install Pillow: python3 -m venv failed (Debian: apt-get install python3-venv)"
        rm -rf "$VENV"
        exit "$EXIT_UNAVAILABLE"
    fi
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --only-binary=:all: "pillow==$PILLOW_VERSION" >&2; then
        say "cannot install Pillow: pip install failed (no registry?)"
        rm -rf "$VENV"
        exit "$EXIT_UNAVAILABLE"
    fi
fi
echo "$VENV/bin/python"
