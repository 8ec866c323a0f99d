#!/usr/bin/env python3
"""Driver of benches/peers/run.sh (stdlib only): times setphoto against the peers, round-robin,
and writes target/peers/report.md. run.sh installs the peers and builds setphoto first and
passes CACHE, CORPUS, ROOT, SKIPPED in the environment; see run.sh for the knobs.

Per input and tool:
  whole  = median wall ms of one fresh process making the full set (`setphoto process FILE
           --out DIR --upscale`, or the peer's own script), ROUNDS runs after 1 warm-up run.
  steady = median ms per set inside one warm process: for the Python peers and sharp, the
           harness (steady_py.py / steady_sharp.js) calls the peer script's own make-set
           function STEADY_WARMUP times untimed then STEADY_REPS times timed, once per round;
           for setphoto, the median of criterion's `process/<input>` bench (benches/pipeline.rs:
           setphoto::process with upscale on, i.e. all 7 sizes), run once between the rounds.
  RSS    = median peak RSS of the whole-process runs (/usr/bin/time -f %M, or wait4).
"""
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.environ.get("ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHE = os.environ.get("CACHE") or os.path.join(ROOT, "target", "peers")
CORPUS = os.environ.get("CORPUS") or os.path.join(ROOT, "..", "shared", "bench", "corpus")
SKIPPED = os.environ.get("SKIPPED") or os.path.join(CACHE, "skipped.txt")
HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(CACHE, "peers")  # unchanged copies of ../shared/bench/peers/*
ROUNDS = max(1, int(os.environ.get("ROUNDS", "9")))
STEADY_WARMUP = int(os.environ.get("STEADY_WARMUP", "2"))
STEADY_REPS = max(1, int(os.environ.get("STEADY_REPS", "3")))
PIN = os.environ.get("PIN", "0") == "1"
NPROC = os.cpu_count() or 1
THREADS = int(os.environ.get("THREADS") or (1 if PIN else NPROC))
SKIP_CRITERION = os.environ.get("SKIP_CRITERION", "0") == "1"
TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
SIZES = (1024, 512, 192, 72, 48, 32, 24)
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".gif")

SETPHOTO = os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"),
                        "release", "setphoto")
# Progressive twins of the corpus's JPEGs (made by run.sh with benches/progressive_twins.sh);
# criterion names them `twins/NAME`. Empty: none.
TWINS = os.environ.get("TWINS", "")
VENV_PY = os.path.join(CACHE, "venv", "bin", "python")
SIMD_PY = os.path.join(CACHE, "venv-simd", "bin", "python")
SHARP_MOD = os.path.join(CACHE, "node", "node_modules", "sharp")
CONVERT = os.path.join(CACHE, "bin", "convert")


def bench_id(inp):
    """The input's name in criterion's groups and in the report."""
    name = os.path.basename(inp)
    return f"twins/{name}" if TWINS and os.path.dirname(os.path.abspath(inp)) == os.path.abspath(TWINS) else name


def log(msg):
    print(f"[peers] {msg}", file=sys.stderr, flush=True)


def sh(cmd, env=None, timeout=120):
    """stdout of cmd (stripped), or '' when it fails."""
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        return p.stdout.strip() if p.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def run_env():
    env = dict(os.environ)
    for k in ("VIPS_CONCURRENCY", "OMP_NUM_THREADS", "MAGICK_THREAD_LIMIT", "PILLOW_THREADS",
              "RAYON_NUM_THREADS"):
        env[k] = str(THREADS)
    # magick.sh calls `convert`: ImageMagick's own binary, linked in target/peers/bin.
    env["PATH"] = os.path.join(CACHE, "bin") + os.pathsep + env.get("PATH", "")
    return env


ENV = run_env()
PIN_PREFIX = ["taskset", "-c", "0"] if PIN else []

PY_VER = (
    "import PIL, platform; from PIL import features as f; "
    "print(('Pillow-SIMD' if 'post' in PIL.__version__ else 'Pillow'), PIL.__version__, "
    "'libjpeg-turbo', f.version('libjpeg_turbo'), 'zlib', f.version('zlib'), "
    "'python', platform.python_version())"
)
VIPS_VER = (
    "import pyvips, platform; "
    "print('pyvips', pyvips.__version__, 'libvips', '.'.join(str(pyvips.version(i)) for i in range(3)), "
    "'API' if pyvips.API_mode else 'ABI', 'mode,', 'python', platform.python_version())"
)
SHARP_VER = (
    f"const s=require({json.dumps(SHARP_MOD)});"
    f"const v=require({json.dumps(os.path.join(SHARP_MOD, 'package.json'))}).version;"
    "console.log('sharp', v, 'libvips', s.versions.vips, 'node', process.version)"
)


class Tool:
    def __init__(self, name, whole, steady, probe, version):
        self.name = name
        self.whole = whole  # (input, outdir) -> argv
        self.steady = steady  # (input, outdir) -> argv, or None (setphoto: criterion)
        self.probe = probe  # () -> bool
        self.version = version  # () -> str


def py_steady(py, script):
    return lambda i, o: [py, os.path.join(HERE, "steady_py.py"), os.path.join(PEERS, script), i, o,
                         str(STEADY_WARMUP), str(STEADY_REPS)]


TOOLS = [
    Tool("setphoto",
         lambda i, o: [SETPHOTO, "process", i, "--out", o, "--upscale"], None,
         lambda: os.access(SETPHOTO, os.X_OK),
         lambda: (sh([SETPHOTO, "--version"]) + ", " + sh(["rustc", "-V"])).strip(", ")),
    Tool("pillow",
         lambda i, o: [VENV_PY, os.path.join(PEERS, "pillow_py.py"), i, o], py_steady(VENV_PY, "pillow_py.py"),
         lambda: bool(sh([VENV_PY, "-c", "import PIL.Image; print(1)"])),
         lambda: sh([VENV_PY, "-c", PY_VER])),
    Tool("pillow-simd",
         lambda i, o: [SIMD_PY, os.path.join(PEERS, "pillow_py.py"), i, o], py_steady(SIMD_PY, "pillow_py.py"),
         lambda: bool(sh([SIMD_PY, "-c", "import PIL.Image; print(1)"])),
         lambda: sh([SIMD_PY, "-c", PY_VER]) + " (built with CC='cc -mavx2')"),
    Tool("pyvips",
         lambda i, o: [VENV_PY, os.path.join(PEERS, "vips_py.py"), i, o], py_steady(VENV_PY, "vips_py.py"),
         lambda: bool(sh([VENV_PY, "-c", "import pyvips; print(1)"])),
         lambda: sh([VENV_PY, "-c", VIPS_VER])),
    Tool("vips-cli",
         lambda i, o: ["bash", os.path.join(PEERS, "vips_cli.sh"), i, o], None,
         lambda: bool(shutil.which("vips") and shutil.which("vipsheader")),
         lambda: sh(["vips", "--version"])),
    Tool("sharp",
         lambda i, o: ["node", os.path.join(PEERS, "sharp.js"), i, o],
         lambda i, o: ["node", os.path.join(HERE, "steady_sharp.js"), os.path.join(PEERS, "sharp.js"), i, o,
                       str(STEADY_WARMUP), str(STEADY_REPS)],
         lambda: bool(sh(["node", "-e", SHARP_VER])),
         lambda: sh(["node", "-e", SHARP_VER])),
    Tool("magick",
         lambda i, o: ["bash", os.path.join(PEERS, "magick.sh"), i, o], None,
         lambda: os.access(CONVERT, os.X_OK),
         lambda: sh([CONVERT, "-version"]).splitlines()[0] if sh([CONVERT, "-version"]) else ""),
]


def timed_run(argv):
    """(wall ms, peak RSS KiB or None, returncode, stderr tail) of one fresh process."""
    rss_file = None
    cmd = list(argv)
    if TIME_BIN:
        fd, rss_file = tempfile.mkstemp(prefix="rss.", dir=CACHE)
        os.close(fd)
        cmd = [TIME_BIN, "-f", "%M", "-o", rss_file] + cmd
    cmd = PIN_PREFIX + cmd
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, err = p.communicate()
    wall = (time.perf_counter() - t) * 1000.0
    rss = None
    if rss_file:
        try:
            with open(rss_file) as f:
                lines = [ln for ln in f.read().split() if ln.isdigit()]
            rss = int(lines[-1]) if lines else None
        finally:
            os.unlink(rss_file)
    return wall, rss, p.returncode, err.decode(errors="replace")[-600:]


def timed_run_wait4(argv):
    """Fallback without GNU time: peak RSS from wait4's rusage of the child (and its children)."""
    cmd = PIN_PREFIX + list(argv)
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = (time.perf_counter() - t) * 1000.0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_maxrss, p.returncode, ""


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


def check_outputs(tool, outdir, inp):
    """'' when outdir holds the 7 sizes (plus setphoto's original), else what is wrong."""
    try:
        names = sorted(n for n in os.listdir(outdir) if not n.startswith("."))
    except OSError as e:
        return f"no output folder ({e})"
    if tool == "setphoto":
        missing = [s for s in SIZES if not any(re.fullmatch(rf".*_{s}\.(jpg|png)", n) for n in names)]
        orig = [n for n in names if re.fullmatch(r".*_original\.\w+", n)]
        bad = ([f"missing size {s}" for s in missing] + ([] if len(orig) == 1 else ["no original"])
               + ([f"{len(names)} files, expected 8"] if len(names) != 8 else []))
    else:
        missing = [s for s in SIZES if not any(re.fullmatch(rf"{s}\.(jpg|png)", n) for n in names)]
        bad = [f"missing size {s}" for s in missing] + ([f"{len(names)} files, expected 7"] if len(names) != 7 else [])
    empty = [n for n in names if os.path.getsize(os.path.join(outdir, n)) == 0]
    bad += [f"empty {n}" for n in empty]
    return "; ".join(bad)


def run_criterion(inputs):
    """{input name: median ms} from criterion's `process/<input>` group (all 7 sizes)."""
    home = os.path.join(CACHE, "criterion")
    shutil.rmtree(os.path.join(home, "process"), ignore_errors=True)  # no stale results
    names = "|".join(re.escape(bench_id(i)) for i in inputs)
    filt = f"^process/({names})$"
    cmd = PIN_PREFIX + ["cargo", "bench", "--features", "bench-internals", "--bench", "pipeline",
                        "--", filt, "--warm-up-time", "1", "--measurement-time", "3"]
    env = dict(ENV, CRITERION_HOME=home)
    logf = os.path.join(CACHE, "criterion.log")
    log(f"criterion: {' '.join(cmd)}  (log: {logf})")
    t = time.perf_counter()
    with open(logf, "w") as f:
        rc = subprocess.call(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    log(f"criterion: done in {time.perf_counter() - t:.0f} s, exit {rc}")
    out = {}
    base = os.path.join(home, "process")
    if os.path.isdir(base):
        for d in os.listdir(base):
            try:
                with open(os.path.join(base, d, "new", "benchmark.json")) as f:
                    bench = json.load(f)
                with open(os.path.join(base, d, "new", "estimates.json")) as f:
                    est = json.load(f)
            except (OSError, ValueError):
                continue
            if bench.get("group_id") != "process":
                continue
            key = bench.get("value_str") or bench.get("function_id")
            out[key] = est["median"]["point_estimate"] / 1e6
    return out, rc


def fmt_ms(v):
    if v is None:
        return "–"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}"


def med(xs):
    return statistics.median(xs) if xs else None


def main():
    t_start = time.time()
    inputs = sorted(os.path.join(CORPUS, n) for n in os.listdir(CORPUS)
                    if n.lower().endswith(IMAGE_EXT) and os.path.isfile(os.path.join(CORPUS, n)))
    if TWINS and os.path.isdir(TWINS):
        # The baseline `cjpeg-baseline` twins are the cjpeg twins' reference, not uploads.
        inputs += sorted(os.path.join(TWINS, n) for n in os.listdir(TWINS)
                         if n.endswith(".jpg") and not n.endswith("-baseline.jpg"))
    if not inputs:
        log(f"no images in {CORPUS}")
        return 2

    # Which tools: skipped by run.sh, filtered by PEERS, or failing their probe.
    skipped = {}
    if os.path.exists(SKIPPED):
        for line in open(SKIPPED):
            if "\t" in line:
                k, v = line.rstrip("\n").split("\t", 1)
                skipped.setdefault(k, v)
    wanted = [p.strip() for p in os.environ.get("PEERS", "").split(",") if p.strip()]
    tools = []
    for t in TOOLS:
        if t.name != "setphoto" and wanted and t.name not in wanted:
            continue
        if t.name in skipped:
            continue
        if not t.probe():
            skipped[t.name] = "installed but does not start (probe failed)"
            log(f"SKIP {t.name}: {skipped[t.name]}")
            continue
        tools.append(t)
    if not tools or tools[0].name != "setphoto":
        log("setphoto binary missing: run cargo build --release")
        return 1
    versions = {t.name: t.version() for t in tools}

    out_root = os.environ.get("OUT_ROOT") or tempfile.mkdtemp(
        prefix="setphoto-peers.", dir="/dev/shm" if os.path.isdir("/dev/shm") else CACHE)
    os.makedirs(out_root, exist_ok=True)
    whole_dir = lambda t, i: os.path.join(out_root, "whole", t, os.path.basename(i))
    steady_dir = lambda t, i: os.path.join(out_root, "steady", t, os.path.basename(i))
    runner = timed_run if TIME_BIN else timed_run_wait4

    wall = {}  # (tool, input) -> [ms]
    rss = {}  # (tool, input) -> [KiB]
    steady = {}  # (tool, input) -> [ms]
    failed = {}  # (tool, input) -> message
    load_before = os.getloadavg()

    # Warm-up: one untimed run of every tool on every input (page cache, bytecode caches).
    log(f"warm-up: {len(tools)} tools x {len(inputs)} inputs; PIN={int(PIN)} THREADS={THREADS}")
    for inp in inputs:
        for t in tools:
            d = whole_dir(t.name, inp)
            fresh_dir(d)
            _, _, rc, err = runner(t.whole(inp, d))
            if rc != 0:
                failed[(t.name, inp)] = f"exit {rc}: {err.strip().splitlines()[-1] if err.strip() else ''}"
                log(f"FAIL {t.name} {os.path.basename(inp)}: {failed[(t.name, inp)]}")

    crit, crit_rc = {}, None
    mid = ROUNDS // 2  # criterion runs after this round, between the peer rounds
    steady_tools = [t for t in tools if t.steady]
    for r in range(ROUNDS):
        tr = time.perf_counter()
        # (a) whole process, round-robin; the starting tool rotates every round and input.
        for k, inp in enumerate(inputs):
            n = len(tools)
            order = [tools[(j + r + k) % n] for j in range(n)]
            for t in order:
                if (t.name, inp) in failed:
                    continue
                d = whole_dir(t.name, inp)
                fresh_dir(d)
                ms, kib, rc, err = runner(t.whole(inp, d))
                if rc != 0:
                    failed[(t.name, inp)] = f"exit {rc}: {err.strip()[-200:]}"
                    continue
                wall.setdefault((t.name, inp), []).append(ms)
                if kib is not None:
                    rss.setdefault((t.name, inp), []).append(kib)
        # (b) steady state: one harness process per tool and input, round-robin too.
        for k, inp in enumerate(inputs):
            n = len(steady_tools)
            for j in range(n):
                t = steady_tools[(j + r + k) % n]
                if (t.name, inp) in failed:
                    continue
                d = steady_dir(t.name, inp)
                os.makedirs(d, exist_ok=True)
                p = subprocess.run(PIN_PREFIX + t.steady(inp, d), env=ENV, capture_output=True, text=True)
                try:
                    ms = json.loads(p.stdout.strip().splitlines()[-1])["ms"]
                    steady.setdefault((t.name, inp), []).extend(ms)
                except (ValueError, IndexError, KeyError):
                    log(f"steady {t.name} {os.path.basename(inp)} failed: exit {p.returncode} {p.stderr.strip()[-300:]}")
        log(f"round {r + 1}/{ROUNDS} done in {time.perf_counter() - tr:.0f} s")
        if r == mid - 1 or (ROUNDS == 1 and r == 0):
            if SKIP_CRITERION:
                log("SKIP_CRITERION=1: no setphoto steady state")
            else:
                crit, crit_rc = run_criterion(inputs)
    for inp in inputs:
        if bench_id(inp) in crit:
            steady[("setphoto", inp)] = [crit[bench_id(inp)]]
    load_after = os.getloadavg()

    # Output check, and keep the last outputs in target/peers/out/.
    checks = {}
    keep = os.path.join(CACHE, "out")
    shutil.rmtree(keep, ignore_errors=True)
    for t in tools:
        for inp in inputs:
            d = whole_dir(t.name, inp)
            if (t.name, inp) in failed:
                checks[(t.name, inp)] = "run failed: " + failed[(t.name, inp)]
            else:
                checks[(t.name, inp)] = check_outputs(t.name, d, inp)
            if os.path.isdir(d):
                shutil.copytree(d, os.path.join(keep, t.name, os.path.basename(inp)))
    if not os.environ.get("OUT_ROOT"):
        shutil.rmtree(out_root, ignore_errors=True)

    # ---------------------------------------------------------------- report
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    flags = ""
    try:
        txt = open("/proc/cpuinfo").read()
        flags = ", ".join(f for f in ("avx2", "avx512f") if re.search(rf"\b{f}\b", txt))
    except OSError:
        pass
    L = []
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    L.append("# setphoto vs peers: one full avatar set (7 sizes 1024..24, `--upscale`)")
    L.append("")
    L.append(f"- date: {now}")
    L.append(f"- nproc: {NPROC}; CPU: {cpu}" + (f" ({flags})" if flags else ""))
    L.append(f"- os: {sh(['uname', '-sr'])}; load average before/after: "
             f"{load_before[0]:.2f} / {load_after[0]:.2f}")
    L.append(f"- mode: {'PIN=1, taskset -c 0' if PIN else 'unpinned'}, THREADS={THREADS} "
             "(VIPS_CONCURRENCY, OMP_NUM_THREADS, MAGICK_THREAD_LIMIT, PILLOW_THREADS, RAYON_NUM_THREADS)")
    L.append(f"- rounds: {ROUNDS} whole-process runs per cell (after 1 warm-up), round-robin; "
             f"steady: {ROUNDS} harness launches x {STEADY_REPS} timed sets (after {STEADY_WARMUP} warm-up sets)")
    L.append(f"- corpus: {os.path.abspath(CORPUS)}")
    L.append("- versions:")
    for t in tools:
        L.append(f"  - {t.name}: {versions.get(t.name) or '?'}")
    if skipped:
        L.append("- skipped:")
        for k, v in skipped.items():
            if not wanted or k in wanted:
                L.append(f"  - {k}: {v}")
    L.append("")
    L.append("Medians in ms. `sp/x` = setphoto ÷ that tool, so **< 1.00 means setphoto is faster**. "
             "whole = one fresh process per set (start-up included); steady = per set in a warm "
             "process (setphoto: criterion `process/<input>`, in-process `setphoto::process`, "
             "which makes the 7 sizes and hashes but writes no files; peers: their make-set "
             "function, writing the files to tmpfs). vips-cli and magick have no in-process "
             "form. RSS = peak resident MiB of the whole-process run.")
    L.append("")
    L.append("| input | tool | whole ms | sp/x whole | steady ms | sp/x steady | peak RSS MiB |")
    L.append("|---|---|---|---|---|---|---|")
    for inp in inputs:
        b = bench_id(inp)
        sw = med(wall.get(("setphoto", inp), []))
        ss = med(steady.get(("setphoto", inp), []))
        for t in tools:
            w = med(wall.get((t.name, inp), []))
            s = med(steady.get((t.name, inp), []))
            m = med(rss.get((t.name, inp), []))
            if (t.name, inp) in failed:
                L.append(f"| `{b}` | {t.name} | failed | – | – | – | – |")
                continue
            if t.name == "setphoto":
                rw = rs = "1.00" if sw else "–"
                if s is None:
                    rs = "–"
            else:
                rw, rs = fmt_ratio(sw, w), fmt_ratio(ss, s)
            name = f"**{t.name}**" if t.name == "setphoto" else t.name
            L.append(f"| `{b}` | {name} | {fmt_ms(w)} | {rw} | {fmt_ms(s)} | {rs} | "
                     f"{'–' if m is None else f'{m / 1024:.0f}'} |")
    L.append("")
    peers = [t for t in tools if t.name != "setphoto"]
    if peers:
        L.append("Ratio setphoto ÷ peer, `whole / steady` (< 1.00: setphoto faster):")
        L.append("")
        L.append("| input | " + " | ".join(t.name for t in peers) + " |")
        L.append("|---|" + "---|" * len(peers))
        for inp in inputs:
            sw = med(wall.get(("setphoto", inp), []))
            ss = med(steady.get(("setphoto", inp), []))
            cells = []
            for t in peers:
                w = med(wall.get((t.name, inp), []))
                s = med(steady.get((t.name, inp), []))
                cells.append(f"{fmt_ratio(sw, w)} / {fmt_ratio(ss, s)}")
            L.append(f"| `{bench_id(inp)}` | " + " | ".join(cells) + " |")
        L.append("")
    bad = {k: v for k, v in checks.items() if v}
    n_ok = sum(1 for v in checks.values() if not v)
    L.append(f"Output check (last whole-process run of each cell; peers: the 7 sizes, setphoto: the 7 "
             f"sizes + the original; kept in target/peers/out/): {n_ok}/{len(checks)} cells complete.")
    for (tn, inp), v in sorted(bad.items()):
        L.append(f"- {tn} `{bench_id(inp)}`: {v}")
    if SKIP_CRITERION:
        L.append("- setphoto steady: skipped (SKIP_CRITERION=1)")
    elif crit_rc not in (0, None):
        L.append(f"- criterion exited {crit_rc} (see target/peers/criterion.log)")
    missing_crit = [bench_id(i) for i in inputs if ("setphoto", i) not in steady]
    if not SKIP_CRITERION and missing_crit:
        L.append(f"- no criterion `process/` result for: {', '.join(missing_crit)} "
                 "(benches/pipeline.rs only benches the five files of ../shared/bench/corpus)")
    t_measure = time.time() - t_start
    ti, tb = os.environ.get("T_INSTALL"), os.environ.get("T_BUILD")
    total = time.time() - float(os.environ["T0"]) if os.environ.get("T0") else None
    L.append("")
    L.append("Run time: " + ", ".join(x for x in [
        f"install {ti} s" if ti else "", f"build {tb} s" if tb else "",
        f"measure {t_measure:.0f} s", f"total {total:.0f} s" if total else ""] if x) + ".")
    report = "\n".join(L) + "\n"
    print(report)
    with open(os.path.join(CACHE, "report.md"), "w") as f:
        f.write(report)
    log(f"report written to {os.path.join(CACHE, 'report.md')}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
