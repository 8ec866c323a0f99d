#!/usr/bin/env python3
"""How `setphoto batch` and `setphoto serve` scale with cores: each run pinned to the first
N cores by its affinity mask (the engine's default thread count follows the mask).

    cargo build --release && cargo bench --bench serve_load --no-run
    benches/scaling.py [--rounds R] [--copies C] [--image JPEG] INPUTS

INPUTS: a folder of images; `batch` runs over C copies of it (default 8) with `--jobs N`.
`serve_load` (the newest `target/release/deps/serve_load-*`) uploads JPEG (default
`../shared/bench/corpus/sq_1080.jpg`) as 64 users from 32 client threads, 4 uploads each,
with the data folder under $TMPDIR. N runs over 1, 2, 4, ... up to the machine's cores.
Prints, per N, the medians over the rounds and the peak RSS (Linux only: affinity masks
and wait4)."""

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(argv, cores, env=None):
    """Wall seconds, exit status, peak RSS (KiB) and stdout of `argv` on `cores`."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             preexec_fn=lambda: os.sched_setaffinity(0, cores))
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    return (time.perf_counter() - start, os.waitstatus_to_exitcode(status), usage.ru_maxrss,
            out.decode())


def core_counts():
    total = len(os.sched_getaffinity(0))
    counts, n = [], 1
    while n < total:
        counts.append(n)
        n *= 2
    return counts + [total]


def batch(setphoto, inputs, copies, rounds):
    work = tempfile.mkdtemp(prefix="scaling-")
    try:
        source = os.path.join(work, "in")
        for k in range(copies):
            shutil.copytree(inputs, os.path.join(source, f"copy{k}"))
        files = sum(1 for _, _, names in os.walk(source) for name in names
                    if name.lower().endswith((".jpg", ".jpeg", ".png", ".gif")))
        print(f"batch: {files} files ({copies} copies of {inputs}), {rounds} rounds")
        one = None
        for cores in core_counts():
            walls, peak = [], 0
            for _ in range(rounds):
                out = os.path.join(work, "out")
                shutil.rmtree(out, ignore_errors=True)
                wall, status, rss, _ = run([setphoto, "batch", source, "--out", out, "--jobs",
                                            str(cores), "--quiet", "--force"], set(range(cores)))
                if status != 0:
                    sys.exit(f"batch --jobs {cores} exited {status}")
                walls.append(wall)
                peak = max(peak, rss)
            wall = statistics.median(walls)
            one = one or wall
            print(f"  {cores:3d} cores: {wall:6.2f} s, {files / wall:7.1f} images/s, "
                  f"speed-up {one / wall:5.2f}, peak RSS {peak // 1024} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def serve(serve_load, image, rounds):
    print(f"serve_load: {image}, 64 users / 32 clients / 256 uploads, {rounds} rounds")
    env = dict(os.environ, USERS="64", CLIENTS="32", UPLOADS="4", IMAGE=image)
    one = None
    for cores in core_counts():
        rates, peak = [], 0
        for _ in range(rounds):
            _, status, rss, out = run([serve_load, "--bench"], set(range(cores)), env)
            if status != 0:
                sys.exit(f"serve_load on {cores} cores exited {status}:\n{out}")
            rates.append(float(out.split(" requests/s")[0].split()[-1]))
            peak = max(peak, rss)
        rate = statistics.median(rates)
        one = one or rate
        print(f"  {cores:3d} cores: {rate:7.1f} requests/s, speed-up {rate / one:5.2f}, "
              f"peak RSS {peak // 1024} MiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("inputs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--image", default=os.path.join(ROOT, "..", "shared", "bench", "corpus",
                                                        "sq_1080.jpg"))
    args = parser.parse_args()
    setphoto = os.path.join(ROOT, "target", "release", "setphoto")
    loads = sorted((p for p in glob.glob(os.path.join(ROOT, "target", "release", "deps",
                                                      "serve_load-*"))
                    if os.access(p, os.X_OK) and not p.endswith(".d")), key=os.path.getmtime)
    if not os.access(setphoto, os.X_OK) or not loads:
        sys.exit("build first: cargo build --release && cargo bench --bench serve_load --no-run")
    batch(setphoto, args.inputs, args.copies, args.rounds)
    serve(loads[-1], os.path.abspath(args.image), args.rounds)


if __name__ == "__main__":
    main()
