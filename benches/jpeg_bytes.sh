#!/usr/bin/env bash
# Bytes of the JPEG renditions per size, summed over the photos, for one or two builds of the
# CLI, with `jpegtran -optimize` on the first build's files as the yardstick for Huffman
# tables fitted to each file (the same coefficients, so the same pixels).
#
#   benches/jpeg_bytes.sh OLD_BINARY [NEW_BINARY]
#
# Build a binary with `cargo build --release --features cli` (copy target/release/setphoto
# aside before building the other revision). Inputs: the JPEG files of ../shared/bench/corpus
# and testdata/inputs, each through `setphoto process FILE --upscale`. Prints one row per
# rendition size: OLD bytes, OLD after jpegtran -optimize, NEW bytes, NEW / OLD and
# NEW / jpegtran.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "${1:?usage: benches/jpeg_bytes.sh OLD_BINARY [NEW_BINARY]}")
new=${2:+$(realpath "$2")}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

inputs=()
for file in ../shared/bench/corpus/*.jpg testdata/inputs/*.jpg; do
  [[ -f $file ]] && inputs+=("$file")
done

# render BINARY NAME: every input's renditions under $work/NAME/<input>/.
render() {
  local binary=$1 name=$2 file
  for file in "${inputs[@]}"; do
    mkdir -p "$work/$name/$(basename "$file")"
    "$binary" process "$file" --upscale --out "$work/$name/$(basename "$file")" >/dev/null
  done
}

# bytes NAME SIZE: the bytes of every NAME rendition of SIZE, summed.
bytes() {
  find "$work/$1" -type f -name "*_$2.jpg" -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}

render "$old" old
mkdir -p "$work/jpegtran"
while IFS= read -r -d '' file; do
  jpegtran -optimize -copy none "$file" >"$work/jpegtran/$(basename "$(dirname "$file")")_$(basename "$file")"
done < <(find "$work/old" -type f -name '*.jpg' -print0)
[[ -n $new ]] && render "$new" new

echo "inputs: ${#inputs[@]} (${inputs[*]})"
printf '%-6s %10s %10s %10s %8s %8s\n' size old jpegtran new new/old new/jt
for size in 1024 512 192 72 48 32 24; do
  o=$(bytes old "$size")
  j=$(bytes jpegtran "$size")
  if [[ -n $new ]]; then n=$(bytes new "$size"); else n=0; fi
  [[ $o == 0 ]] && continue
  awk -v s="$size" -v o="$o" -v j="$j" -v n="$n" \
    'BEGIN { printf "%-6s %10d %10d %10d %8.3f %8.3f\n", s, o, j, n, n / o, n / j }'
done
