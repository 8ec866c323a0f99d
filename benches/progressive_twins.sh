#!/usr/bin/env bash
# Progressive twins of the bench corpus's JPEGs, for the criterion benches and for
# whole-process timings:
#
#   benches/progressive_twins.sh [OUT]     # OUT: $CARGO_TARGET_DIR/progressive-twins, or
#                                          # target/progressive-twins
#
# (benches/pipeline.rs reads them from there). For each JPEG NAME.jpg of CORPUS (default
# ../shared/bench/corpus beside the repo):
#   NAME.jpegtran.jpg   jpegtran -progressive: libjpeg's scan script, the same coefficients as
#                       NAME.jpg (its baseline twin), so the two decode alike
#   NAME.scans.jpg      jpegtran with mozjpeg's scan script (DC together, luma 1-8 and 9-63 with
#                       two refinements, chroma 1-8 and 9-63)
#   NAME.ps.jpg         a Photoshop-like script: the DC of all three, then each component's
#                       AC whole (no successive approximation)
#   NAME.sa.jpg         successive approximation throughout: DC per component in three
#                       bit steps, luma AC split at 1 and sent in four bit steps, chroma in two
#   NAME.cjpeg.jpg      decoded to PPM, then cjpeg -progressive -quality 90, as an editor's
#                       "save as progressive" does; NAME.cjpeg-baseline.jpg is its baseline twin
# Needs jpegtran, djpeg and cjpeg (Debian: libjpeg-turbo-progs). Large outputs: not committed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
CORPUS="${CORPUS:-$ROOT/../shared/bench/corpus}"
OUT="${1:-${CARGO_TARGET_DIR:-$ROOT/target}/progressive-twins}"

for tool in jpegtran djpeg cjpeg; do
  command -v "$tool" >/dev/null || { echo "progressive_twins: $tool not found" >&2; exit 2; }
done
mkdir -p "$OUT"
SCANS="$(mktemp)" PS="$(mktemp)" SA="$(mktemp)"
trap 'rm -f "$SCANS" "$PS" "$SA"' EXIT
cat >"$SCANS" <<'SCRIPT'
0,1,2: 0-0, 0, 0;
0: 1-8, 0, 2;
1: 1-8, 0, 0;
2: 1-8, 0, 0;
0: 9-63, 0, 2;
0: 1-63, 2, 1;
0: 1-63, 1, 0;
1: 9-63, 0, 0;
2: 9-63, 0, 0;
SCRIPT
cat >"$PS" <<'SCRIPT'
0,1,2: 0-0, 0, 0;
0: 1-63, 0, 0;
1: 1-63, 0, 0;
2: 1-63, 0, 0;
SCRIPT
cat >"$SA" <<'SCRIPT'
0: 0-0, 0, 2; 1: 0-0, 0, 2; 2: 0-0, 0, 2;
0,1,2: 0-0, 2, 1; 0,1,2: 0-0, 1, 0;
0: 1-1, 0, 3; 0: 2-63, 0, 3; 0: 1-63, 3, 2; 0: 1-63, 2, 1; 0: 1-63, 1, 0;
2: 1-63, 0, 1; 1: 1-63, 0, 1; 2: 1-63, 1, 0; 1: 1-63, 1, 0;
SCRIPT

for jpeg in "$CORPUS"/*.jpg; do
  name="$(basename "$jpeg" .jpg)"
  jpegtran -copy all -progressive "$jpeg" >"$OUT/$name.jpegtran.jpg"
  jpegtran -copy all -scans "$SCANS" "$jpeg" >"$OUT/$name.scans.jpg"
  jpegtran -copy all -scans "$PS" "$jpeg" >"$OUT/$name.ps.jpg"
  jpegtran -copy all -scans "$SA" "$jpeg" >"$OUT/$name.sa.jpg"
  djpeg -ppm "$jpeg" | cjpeg -quality 90 -progressive >"$OUT/$name.cjpeg.jpg"
  djpeg -ppm "$jpeg" | cjpeg -quality 90 >"$OUT/$name.cjpeg-baseline.jpg"
done
ls -l "$OUT"
