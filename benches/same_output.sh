#!/usr/bin/env bash
# Do two commits make the same avatar sets? For speed work that must not change a byte.
#
#   benches/same_output.sh OLD [NEW]     # NEW defaults to the working tree
#
# Builds `setphoto` (feature `cli`) at each revision in its own target directory (a shared
# one can hand one build the other's stale workspace crates), then runs `setphoto process
# FILE --upscale` with both on every file of ../shared/bench/corpus, ../shared/corpus and
# testdata/inputs, and compares the output trees, the exit codes and the messages. Prints
# each file that differs and a summary; exits 1 when any differs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
old=${1:?usage: benches/same_output.sh OLD_REVISION [NEW_REVISION]}
new=${2:-}
work=$root/target/same-output
mkdir -p "$work"

# build REVISION NAME: the CLI of REVISION ("" = the working tree) as $work/NAME.
build() {
  local revision=$1 name=$2 tree
  if [[ -z $revision ]]; then
    tree=$root
  else
    tree=$work/tree-$name
    rm -rf "$tree"
    git worktree prune
    git worktree add --detach --force "$tree" "$revision" >/dev/null
    # The worktree reads ../shared the way the checkout does.
    ln -sfn "$root/../shared" "$work/shared"
  fi
  CARGO_TARGET_DIR=$work/target-$name cargo build --quiet --release --features cli \
    --manifest-path "$tree/Cargo.toml"
  cp "$work/target-$name/release/setphoto" "$work/$name"
  if [[ -n $revision ]]; then
    git worktree remove --force "$tree"
  fi
}
build "$old" old
build "$new" new

out=$work/out
rm -rf "$out"
mkdir -p "$out/old" "$out/new"
files=0 differing=0 refused=0
while IFS= read -r file; do
  case $file in *.tsv | *.md | *.txt | *LICENSE* | *README*) continue ;; esac
  for side in old new; do
    set +e
    "$work/$side" process "$file" --upscale --out "$out/$side/$files" \
      >"$out/$side/$files.stdout" 2>"$out/$side/$files.stderr"
    echo $? >"$out/$side/$files.status"
    set -e
  done
  same=true
  cmp -s "$out/old/$files.status" "$out/new/$files.status" || same=false
  cmp -s "$out/old/$files.stderr" "$out/new/$files.stderr" || same=false
  if [[ -d $out/old/$files || -d $out/new/$files ]]; then
    diff -rq "$out/old/$files" "$out/new/$files" >/dev/null 2>&1 || same=false
  fi
  if ! $same; then
    differing=$((differing + 1))
    echo "differs: $file"
  fi
  [[ $(cat "$out/old/$files.status") == 0 ]] || refused=$((refused + 1))
  files=$((files + 1))
done < <(find "$root/../shared/bench/corpus" "$root/../shared/corpus" "$root/testdata/inputs" \
  -type f 2>/dev/null | sort)

echo "files: $files, differing: $differing, refused by OLD: $refused"
[[ $differing == 0 ]]
