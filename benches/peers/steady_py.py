#!/usr/bin/env python3
"""Steady-state harness for the Python peers: imports a peer script (pillow_py.py or
vips_py.py from ../shared/bench/peers) as a module and calls its make-set function,
`main(src, outdir)`, repeatedly in this one warm process.

usage: steady_py.py PEER_SCRIPT INPUT OUTDIR WARMUP REPS
Prints one JSON line: {"ms": [per-set wall ms of the REPS timed sets]}.
"""
import importlib.util
import json
import os
import sys
import time


def main():
    script, src, outdir, warmup, reps = sys.argv[1:6]
    spec = importlib.util.spec_from_file_location("peer", script)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)  # the peer's __main__ block does not run on import
    os.makedirs(outdir, exist_ok=True)
    for _ in range(int(warmup)):
        peer.main(src, outdir)
    ms = []
    for _ in range(int(reps)):
        t = time.perf_counter()
        peer.main(src, outdir)
        ms.append((time.perf_counter() - t) * 1000.0)
    print(json.dumps({"ms": ms}))


if __name__ == "__main__":
    main()
