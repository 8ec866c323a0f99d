#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after the other, with a
# nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`):
#
#     fuzz/run.sh [SECONDS]            (TARGETS="lzw resize" fuzz/run.sh 60: some of them)
#
# Each target starts from its seed corpus (fuzz/corpus/<target>) and its kept findings
# (fuzz/regressions/<target>), read only; what it learns goes to fuzz/work/<target>, and
# a crash to fuzz/artifacts/<target>/ (both ignored by git). Minimise a crash with
# `cargo +nightly fuzz tmin <target> <file>` and keep it under fuzz/regressions/<target>/:
# `cargo test --all-features` replays it from then on. Prints libFuzzer's last line per
# target (executions, coverage) and stops at the first target that fails.
set -euo pipefail
seconds="${1:-60}"
cd "$(dirname "$0")"
targets=(${TARGETS:-pipeline jpeg_decoder lzw resize encoder})
for target in "${targets[@]}"; do
    mkdir -p "work/$target"
    dirs=("work/$target" "corpus/$target")
    [ -d "regressions/$target" ] && dirs+=("regressions/$target")
    log="work/$target.log"
    echo "== $target: ${seconds}s"
    # -rss_limit_mb: the pipeline's fuzzing policy allows 8-megapixel pictures.
    if ! cargo +nightly fuzz run "$target" "${dirs[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "== $target FAILED (log: fuzz/$log)"
        exit 1
    fi
    grep -E '^#[0-9]+.*(DONE|pulse)' "$log" | tail -n 1
    grep -E '^stat::number_of_executed_units' "$log" || true
done
