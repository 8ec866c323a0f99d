#!/usr/bin/env bash
# Peer comparison: setphoto against the peers in ../shared/bench/peers/ (Pillow, Pillow-SIMD,
# pyvips, vipsthumbnail CLI, sharp, ImageMagick) on every image of ../shared/bench/corpus/.
#
#   benches/peers/run.sh                 # ROUNDS=9, unpinned (THREADS = nproc)
#   PIN=1 benches/peers/run.sh           # one-thread figures: taskset -c 0, all *_THREADS=1
#   ROUNDS=2 PEERS=pillow,sharp benches/peers/run.sh
#
# Environment (all optional):
#   ROUNDS=9         round-robin rounds (whole-process runs per tool and input; steady-state
#                    harness launches per tool and input)
#   STEADY_REPS=3    timed sets per steady-state harness launch (after STEADY_WARMUP=2 untimed)
#   PIN=0|1          PIN=1: everything (peers, setphoto, criterion) on core 0, one thread
#   THREADS          VIPS_CONCURRENCY / OMP_NUM_THREADS / MAGICK_THREAD_LIMIT / PILLOW_THREADS /
#                    RAYON_NUM_THREADS (default: 1 with PIN=1, else nproc)
#   CORPUS           input folder (default ../shared/bench/corpus beside the repo)
#   PEERS_SRC        peer scripts (default ../shared/bench/peers beside the repo)
#   PEERS            comma list of tools to run (default: all of
#                    setphoto,pillow,pillow-simd,pyvips,vips-cli,sharp,magick)
#   SKIP_INSTALL=1   do not install anything; use what is already there
#   SKIP_CRITERION=1 no setphoto steady state (no cargo bench)
#   OUT_ROOT         scratch folder for the outputs (default: a fresh folder on /dev/shm, so
#                    no tool is timed on disk syncs); the last outputs are kept in
#                    target/peers/out/
#   PYTHON           interpreter the virtualenvs are made from (default python3)
#   TWINS=1|0        TWINS=1 (default): the progressive twins of the corpus's JPEGs
#                    (benches/progressive_twins.sh, needs jpegtran/cjpeg/djpeg) join the inputs,
#                    made in $CARGO_TARGET_DIR/progressive-twins where criterion finds them too
#
# Everything installed lives in target/peers/ (idempotent: what is there is kept). A peer that
# cannot be installed is skipped with the reason, never failing the run. Report:
# target/peers/report.md. Nothing outside target/peers/ is written (criterion's results go
# to target/peers/criterion via CRITERION_HOME).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

CACHE="$ROOT/target/peers"
mkdir -p "$CACHE"
SKIPPED="$CACHE/skipped.txt"
: >"$SKIPPED"
PY="${PYTHON:-python3}"
CORPUS="${CORPUS:-$ROOT/../shared/bench/corpus}"
PEERS_SRC="${PEERS_SRC:-$ROOT/../shared/bench/peers}"
T0=$(date +%s)

log() { printf '[peers] %s\n' "$*" >&2; }
skip() { # skip NAME REASON
  log "SKIP $1: $2"
  printf '%s\t%s\n' "$1" "$2" >>"$SKIPPED"
}

if [ ! -d "$CORPUS" ]; then
  log "corpus folder $CORPUS not found (set CORPUS=...)"
  exit 2
fi
if [ ! -d "$PEERS_SRC" ]; then
  log "peer scripts folder $PEERS_SRC not found (set PEERS_SRC=...)"
  exit 2
fi

# The peer scripts are copied unchanged into target/peers/peers/: sharp.js loads sharp from
# ../node/node_modules next to itself, which is then target/peers/node/.
mkdir -p "$CACHE/peers"
cp -f "$PEERS_SRC"/*.py "$PEERS_SRC"/*.sh "$PEERS_SRC"/*.js "$CACHE/peers/" 2>/dev/null
chmod u+w "$CACHE/peers"/* 2>/dev/null || true

SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=(sudo -n); else SUDO=(none); fi
fi

APT_UPDATED=0
# apt_install PKG... : installs the Debian packages not installed yet; returns non-zero on failure.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return 0
  if [ "${SKIP_INSTALL:-0}" = 1 ]; then log "SKIP_INSTALL=1: not installing ${missing[*]}"; return 1; fi
  if ! command -v apt-get >/dev/null; then log "no apt-get: cannot install ${missing[*]}"; return 1; fi
  if [ "${SUDO[*]-}" = none ]; then log "not root and no password-less sudo: cannot install ${missing[*]}"; return 1; fi
  if [ $APT_UPDATED = 0 ]; then
    log "apt-get update"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$CACHE/apt.log" 2>&1 || true
    APT_UPDATED=1
  fi
  log "apt-get install ${missing[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >>"$CACHE/apt.log" 2>&1
}

want() { # want TOOL: is TOOL in $PEERS (or PEERS unset)?
  [ -z "${PEERS:-}" ] && return 0
  case ",$PEERS," in *",$1,"*) return 0 ;; *) return 1 ;; esac
}

# ---------------------------------------------------------------- 1. install the peers
log "1/3 installing peers into $CACHE (kept between runs)"

# GNU time for peak RSS (the driver falls back to wait4's rusage without it).
[ -x /usr/bin/time ] || apt_install time || log "no /usr/bin/time: peak RSS from wait4 instead"

# Debian tools: ImageMagick, vipsthumbnail/vips CLI, djpeg/cjpeg.
if want magick || want vips-cli; then
  apt_install imagemagick libjpeg-turbo-progs libvips-tools || log "some Debian packages failed to install (see $CACHE/apt.log)"
fi
# magick.sh runs `convert` from PATH: make sure that is ImageMagick's own binary (a wrapper
# script earlier in PATH would add its start-up to every run).
mkdir -p "$CACHE/bin"
rm -f "$CACHE/bin/convert"
if want magick; then
  IMCONV=""
  for c in /usr/bin/convert-im6.q16 /usr/bin/convert /usr/bin/convert-im6; do
    if [ -x "$c" ] && "$c" -version 2>/dev/null | grep -q ImageMagick; then IMCONV="$(readlink -f "$c")"; break; fi
  done
  if [ -n "$IMCONV" ]; then ln -s "$IMCONV" "$CACHE/bin/convert"
  else skip magick "ImageMagick's convert is not installed (apt-get install imagemagick failed or not allowed)"; fi
fi
if want vips-cli && ! { command -v vips >/dev/null && command -v vipsheader >/dev/null; }; then
  skip vips-cli "vips/vipsheader not found (apt-get install libvips-tools failed or not allowed)"
fi

# make_venv DIR: creates a virtualenv unless it works already.
make_venv() {
  [ -x "$1/bin/python" ] && "$1/bin/python" -c 'import sys' 2>/dev/null && return 0
  rm -rf "$1"
  "$PY" -m venv "$1" >>"$CACHE/pip.log" 2>&1 && return 0
  apt_install python3-venv && rm -rf "$1" && "$PY" -m venv "$1" >>"$CACHE/pip.log" 2>&1
}

# venv 1: stock Pillow + pyvips (pyvips-binary: its own libvips).
VENV="$CACHE/venv"
if want pillow || want pyvips; then
  if "$VENV/bin/python" -c 'import PIL, pyvips' >/dev/null 2>&1; then
    log "venv (pillow, pyvips): already installed"
  elif [ "${SKIP_INSTALL:-0}" = 1 ]; then
    skip pillow "SKIP_INSTALL=1 and $VENV has no Pillow/pyvips"; skip pyvips "SKIP_INSTALL=1 and $VENV has no Pillow/pyvips"
  elif ! make_venv "$VENV"; then
    skip pillow "cannot create a virtualenv with $PY (see $CACHE/pip.log)"
    skip pyvips "cannot create a virtualenv with $PY (see $CACHE/pip.log)"
  else
    log "pip install pillow pyvips pyvips-binary"
    "$VENV/bin/python" -m pip install -q pillow pyvips pyvips-binary >>"$CACHE/pip.log" 2>&1 \
      || log "pip install pillow pyvips pyvips-binary failed (see $CACHE/pip.log)"
  fi
  if want pillow && ! grep -q "^pillow	" "$SKIPPED" && ! "$VENV/bin/python" -c 'import PIL.Image' >/dev/null 2>&1; then
    skip pillow "Pillow did not install (see $CACHE/pip.log)"
  fi
  if want pyvips && ! grep -q "^pyvips	" "$SKIPPED" && ! "$VENV/bin/python" -c 'import pyvips' >/dev/null 2>&1; then
    skip pyvips "pyvips/pyvips-binary did not install or cannot load libvips (see $CACHE/pip.log)"
  fi
fi

# venv 2: Pillow-SIMD built from source with AVX2.
VENV_SIMD="$CACHE/venv-simd"
if want pillow-simd; then
  simd_ok() { "$VENV_SIMD/bin/python" -m pip show pillow-simd >/dev/null 2>&1 && "$VENV_SIMD/bin/python" -c 'import PIL.Image' >/dev/null 2>&1; }
  if simd_ok; then
    log "venv-simd (Pillow-SIMD): already installed"
  elif ! grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    skip pillow-simd "this CPU has no AVX2 (Pillow-SIMD is built with -mavx2)"
  elif [ "${SKIP_INSTALL:-0}" = 1 ]; then
    skip pillow-simd "SKIP_INSTALL=1 and $VENV_SIMD has no Pillow-SIMD"
  elif ! apt_install libjpeg62-turbo-dev zlib1g-dev libpng-dev; then
    skip pillow-simd "build dependencies libjpeg62-turbo-dev zlib1g-dev libpng-dev missing and not installable"
  elif ! make_venv "$VENV_SIMD"; then
    skip pillow-simd "cannot create a virtualenv with $PY (see $CACHE/pip.log)"
  else
    log "building Pillow-SIMD with CC='cc -mavx2' (a few minutes)"
    CC="cc -mavx2" "$VENV_SIMD/bin/python" -m pip install -q --no-binary pillow-simd pillow-simd \
      >>"$CACHE/pip.log" 2>&1
    simd_ok || skip pillow-simd "pip install --no-binary pillow-simd pillow-simd failed (see $CACHE/pip.log)"
  fi
fi

# sharp 0.35 from npm into target/peers/node.
NODE_DIR="$CACHE/node"
if want sharp; then
  sharp_ok() { node -e "require('$NODE_DIR/node_modules/sharp')" >/dev/null 2>&1; }
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    skip sharp "node/npm not installed"
  elif sharp_ok; then
    log "sharp: already installed"
  elif [ "${SKIP_INSTALL:-0}" = 1 ]; then
    skip sharp "SKIP_INSTALL=1 and $NODE_DIR has no sharp"
  else
    log "npm install sharp@0.35"
    mkdir -p "$NODE_DIR"
    [ -f "$NODE_DIR/package.json" ] || printf '{"name":"setphoto-peers","private":true}\n' >"$NODE_DIR/package.json"
    npm install --prefix "$NODE_DIR" --no-audit --no-fund sharp@0.35 >"$CACHE/npm.log" 2>&1
    sharp_ok || skip sharp "npm install sharp@0.35 failed or sharp cannot load (see $CACHE/npm.log)"
  fi
fi
T_INSTALL=$(( $(date +%s) - T0 ))

# ---------------------------------------------------------------- 2. build setphoto
log "2/3 cargo build --release (and the pipeline bench)"
T1=$(date +%s)
if ! cargo build --release >"$CACHE/cargo-build.log" 2>&1; then
  tail -30 "$CACHE/cargo-build.log" >&2
  log "cargo build --release failed"
  exit 1
fi
if [ "${SKIP_CRITERION:-0}" != 1 ]; then
  # Built here so that the run between the rounds only measures.
  if ! cargo bench --features bench-internals --bench pipeline --no-run >>"$CACHE/cargo-build.log" 2>&1; then
    log "cargo bench --no-run failed: no setphoto steady state (see $CACHE/cargo-build.log)"
    export SKIP_CRITERION=1
  fi
fi
T_BUILD=$(( $(date +%s) - T1 ))

# Progressive twins: beside the corpus in the report, and in criterion's groups.
TWINS_DIR=""
if [ "${TWINS:-1}" = 1 ]; then
  TWINS_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/progressive-twins"
  if ! CORPUS="$CORPUS" bash "$ROOT/benches/progressive_twins.sh" "$TWINS_DIR" >/dev/null 2>"$CACHE/twins.log"; then
    skip twins "benches/progressive_twins.sh failed: $(tail -1 "$CACHE/twins.log")"
    TWINS_DIR=""
  fi
fi

# ---------------------------------------------------------------- 3. measure
log "3/3 measuring"
TWINS="$TWINS_DIR"
export CACHE CORPUS ROOT SKIPPED T_INSTALL T_BUILD T0 TWINS
"${PY}" "$HERE/compare.py"
rc=$?
log "total $(( $(date +%s) - T0 )) s (install ${T_INSTALL} s, build ${T_BUILD} s)"
exit $rc
