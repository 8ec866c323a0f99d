#!/usr/bin/env python3
"""JPEG bytes against quality, per rendition size: setphoto's encoder against sharp's and
Pillow's on the same pixels.

    benches/quality/jpeg_bytes.py [--quick] [PHOTO ...]
    benches/quality/jpeg_bytes.py --tables      (the tables again from the last run's
                                                 measurements, target/peers/jpeg_bytes.json)

Inputs: the photos given (default: the JPEGs of ../shared/bench/corpus and testdata/inputs)
and four pictures made here (a lit portrait-like scene with sensor noise, a flat logo with
saturated edges, a fine fabric texture, a sunset gradient with a silhouette). Each is cut to
its centred square; for every rendition size up to that square's side, the square is
resized with a float Lanczos-3 (Pillow, mode F per channel): that float picture is the
reference, and its 8-bit rounding is what every encoder gets, so the comparison is of the
encoders alone. Quality is measured on the decoded file (Pillow, libjpeg-turbo) against the
float reference with SSIM (Gaussian window, sigma 1.5) twice: on luma (BT.601 Y), the SSIM
quoted and DSSIM = 1 / SSIM - 1; and averaged over the R, G and B channels ("colour
SSIM"), which sees chroma detail that luma does not. "As good" means both: RGB SSIM alone
rewards 4:4:4 at a low quality, whose luma is visibly blockier.

Encoders:
  - setphoto: `crates/setphoto-kernels/examples/jpeg_encode.rs` over a quality grid, 4:2:0
    and 4:4:4 on Annex K's tables and 4:2:0 on the rendition tables, sequential ("420r")
    and progressive ("420rp"), and at
    `setphoto_kernels::jpeg::encoder::rendition_encoder` (the engine's
    rule, printed by the example for each size);
  - sharp 0.35 (`sharp_jpeg.js`): its default output (quality 80, 4:2:0, optimised Huffman
    coding) and the same settings over the quality grid;
  - Pillow: its default output (quality 75, 4:2:0, standard tables).

Tables: per size, sharp's default (bytes, mean DSSIM), setphoto's rule, ours / sharp's
bytes; then, per size, every setphoto setting that is at least as good as sharp's default
in mean DSSIM and mean SSIM, cheapest first (what the rule is chosen from); then the bytes
sharp itself needs to reach our rule's quality (its grid, interpolated).

Tools: numpy and Pillow (if missing, a virtualenv is made in target/peers/venv-quality and
the script runs again in it); node with sharp in target/peers/node (installed with npm as
benches/peers/run.sh does if missing); cargo (the example is built in release mode;
$CARGO_TARGET_DIR is honoured).
"""
import glob
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "benches", "quality")
PEERS = os.path.join(ROOT, "target", "peers")
VENV = os.path.join(PEERS, "venv-quality")
SIZES = [1024, 512, 192, 72, 48, 32, 24]
SAVED = os.path.join(PEERS, "jpeg_bytes.json")
# Our encoder's settings on the grid: 4:2:0 and 4:4:4 on Annex K's tables, and 4:2:0 on the
# rendition tables ("r"), sequential and progressive ("p"): what the engine's rule uses; each
# of the latter also with rate-distortion quantisation ("t", the smallest JPEG effort).
SAMPLINGS = ("420", "444", "420r", "420rp", "420rt", "420rpt")
# With --quick: only the rendition tables, on a grid dense where the cheapest settings lie.
QUICK_SAMPLINGS = ("420r", "420rp", "420rt", "420rpt")
QUICK_GRID = [60, 64, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 78, 80, 82, 84, 86, 90]

try:
    import numpy as np
    from PIL import Image
except ImportError:
    python = os.path.join(VENV, "bin", "python")
    if os.path.abspath(sys.executable) == os.path.abspath(python):
        raise
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "numpy", "pillow"], check=True)
    os.execv(python, [python] + sys.argv)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# --- inputs -------------------------------------------------------------------------------


def made_pictures(side=1280):
    """Pictures of what avatars are made of, drawn here with a fixed seed."""
    rng = np.random.default_rng(21)
    y, x = np.mgrid[0:side, 0:side].astype(np.float64) / side

    def smooth_noise(scale, octaves=4):
        total = np.zeros((side, side))
        for octave in range(octaves):
            cells = max(2, int(scale * 2**octave))
            grid = rng.normal(size=(cells, cells)).astype(np.float32)
            up = Image.fromarray(grid, mode="F").resize((side, side), Image.BICUBIC)
            total += np.asarray(up, dtype=np.float64) / 2**octave
        return total

    pictures = {}
    # A lit head and shoulders on a blurred background, with sensor noise.
    background = np.stack([90 + 60 * x, 110 + 40 * y, 140 - 50 * x], -1)
    background += 12 * smooth_noise(3)[..., None]
    head = ((x - 0.5) / 0.22) ** 2 + ((y - 0.42) / 0.3) ** 2
    body = ((x - 0.5) / 0.45) ** 2 + ((y - 1.1) / 0.35) ** 2
    light = np.clip(1.1 - 0.9 * ((x - 0.4) ** 2 + (y - 0.3) ** 2) ** 0.5, 0.3, 1.0)
    skin = np.stack([225 * light, 170 * light, 140 * light], -1)
    shirt = np.stack([40 + 30 * light, 70 + 40 * light, 150 * light], -1)
    shirt += 10 * np.sin(x * 400)[..., None] * (light[..., None] > 0.5)
    hair = ((x - 0.5) / 0.24) ** 2 + ((y - 0.3) / 0.2) ** 2 < 1
    hair_colour = np.stack([60, 40, 25], -1) + 25 * smooth_noise(40, 2)[..., None]
    portrait = background
    portrait = np.where((body < 1)[..., None], shirt, portrait)
    portrait = np.where((head < 1)[..., None], skin, portrait)
    portrait = np.where((hair & (y < 0.32))[..., None], hair_colour, portrait)
    portrait += rng.normal(0, 3, portrait.shape)
    pictures["made_portrait"] = portrait
    # A flat logo: saturated shapes on white, with a ring and text-like bars.
    logo = np.full((side, side, 3), 250.0)
    ring = np.abs(np.hypot(x - 0.5, y - 0.5) - 0.32) < 0.05
    logo[ring] = [220, 30, 40]
    square = (np.abs(x - 0.5) < 0.14) & (np.abs(y - 0.5) < 0.14)
    logo[square] = [20, 90, 200]
    bars = (y > 0.86) & (y < 0.92) & (np.sin(x * 90) > 0.2) & (x > 0.2) & (x < 0.8)
    logo[bars] = [30, 30, 30]
    pictures["made_logo"] = logo
    # A woven fabric: fine threads of two colours.
    warp = 0.5 + 0.5 * np.sin(x * side * 0.9)
    weft = 0.5 + 0.5 * np.sin(y * side * 0.7)
    weave = np.where(((x * side // 6 + y * side // 6) % 2 == 0), warp, weft)
    fabric = np.stack([160 + 70 * weave, 60 + 50 * weave, 80 + 20 * (1 - weave)], -1)
    fabric += 10 * smooth_noise(8)[..., None] + rng.normal(0, 2, fabric.shape)
    pictures["made_fabric"] = fabric
    # A sunset: long gradients (banding shows) and a dark silhouette with a thin horizon.
    sky = np.stack([250 - 60 * y, 150 - 90 * y, 80 + 90 * y], -1)
    hills = y > 0.7 + 0.06 * np.sin(x * 9) + 0.02 * np.sin(x * 37)
    sky[hills] = [25, 20, 30]
    sky[np.abs(y - 0.69 - 0.06 * np.sin(x * 9)) < 0.003] = [255, 230, 160]
    pictures["made_sunset"] = sky
    return {name: np.clip(p, 0, 255).round().astype(np.uint8) for name, p in pictures.items()}


def square_of(rgb):
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return rgb[top : top + side, left : left + side]


def reference(square, size):
    """Float Lanczos-3 resize of each channel: the truth every file is measured against."""
    channels = [
        np.asarray(
            Image.fromarray(square[..., c].astype(np.float32), mode="F").resize(
                (size, size), Image.LANCZOS
            ),
            dtype=np.float64,
        )
        for c in range(3)
    ]
    return np.stack(channels, -1)


# --- quality ------------------------------------------------------------------------------


def gaussian_kernel(sigma=1.5, radius=5):
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-(t**2) / (2 * sigma**2))
    return k / k.sum()


KERNEL = gaussian_kernel()


def blur(plane):
    """Separable Gaussian with mirrored edges (small renditions are all edge)."""
    r = len(KERNEL) // 2
    padded = np.pad(plane, r, mode="reflect") if min(plane.shape) > r else np.pad(
        plane, r, mode="edge"
    )
    rows = sum(KERNEL[i] * padded[:, i : i + plane.shape[1]] for i in range(len(KERNEL)))
    return sum(KERNEL[i] * rows[i : i + plane.shape[0], :] for i in range(len(KERNEL)))


def luma(rgb):
    return rgb @ np.array([0.299, 0.587, 0.114])


def ssim(truth, test):
    """SSIM of luma, and the mean SSIM of R, G and B."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    scores = []
    for a, b in [(luma(truth), luma(test))] + [(truth[..., c], test[..., c]) for c in range(3)]:
        mu_a, mu_b = blur(a), blur(b)
        var_a = blur(a * a) - mu_a**2
        var_b = blur(b * b) - mu_b**2
        cov = blur(a * b) - mu_a * mu_b
        m = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
            (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
        )
        scores.append(m.mean())
    return float(scores[0]), float(np.mean(scores[1:]))


TRUTHS = {}


def measure_item(item):
    """`measure` for a (path, truth key) pair, in a worker."""
    path, truth = item
    return measure(path, TRUTHS[truth])


def measure(path, truth):
    with Image.open(path) as image:
        decoded = np.asarray(image.convert("RGB"), dtype=np.float64)
    y, rgb = ssim(truth, decoded)
    return os.path.getsize(path), y, 1 / y - 1, rgb


# --- encoders -----------------------------------------------------------------------------


def ensure_tools():
    node = os.path.join(PEERS, "node")
    if subprocess.run(
        ["node", "-e", f"require('{node}/node_modules/sharp')"], capture_output=True
    ).returncode:
        log("installing sharp@0.35 in target/peers/node")
        subprocess.run(
            ["npm", "install", "--prefix", node, "--no-audit", "--no-fund", "sharp@0.35"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    log("building the jpeg_encode example (release)")
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "setphoto-kernels", "--example", "jpeg_encode"],
        cwd=ROOT,
        check=True,
    )
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return node, os.path.join(target, "release", "examples", "jpeg_encode")


def run_jobs(command, jobs):
    if jobs:
        subprocess.run(command, input="".join(j + "\n" for j in jobs), text=True, check=True)


def rule(example, sizes, effort=()):
    """The engine's settings per size, as the example reports them (`effort`: ["smallest"]
    for the smallest JPEG effort)."""
    out = subprocess.run(
        [example, "--rule"] + list(effort) + [str(s) for s in sizes],
        capture_output=True, text=True, check=True,
    ).stdout
    settings = {}
    for line in out.splitlines():
        size, quality, sampling = line.split()
        settings[int(size)] = (int(quality), sampling)
    return settings


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv
    photos = args or sorted(
        glob.glob(os.path.join(ROOT, "..", "shared", "bench", "corpus", "*.jpg"))
        + glob.glob(os.path.join(ROOT, "testdata", "inputs", "*.jpg"))
    )
    if "--tables" in sys.argv:
        with open(SAVED) as saved:
            data = json.load(saved)
        results = {tuple(k): v for k, v in data["results"]}
        settings = {int(k): tuple(v) for k, v in data["settings"].items()}
        tables(data["inputs"], data["grid"], settings, results)
        if "smallest" in data:
            smallest = {int(k): tuple(v) for k, v in data["smallest"].items()}
            tables(data["inputs"], data["grid"], smallest, results, "smallest")
        return
    node, example = ensure_tools()
    inputs = {}
    for photo in photos:
        with Image.open(photo) as image:
            inputs[os.path.basename(photo)] = np.asarray(image.convert("RGB"))
    inputs.update(made_pictures())
    grid = QUICK_GRID if quick else list(range(56, 95, 2))
    samplings = QUICK_SAMPLINGS if quick else SAMPLINGS
    settings = rule(example, SIZES)
    smallest = rule(example, SIZES, ["smallest"])

    work = tempfile.mkdtemp(prefix="jpeg_bytes_")
    truths = {}
    ours, theirs, pillow = [], [], []
    for name, rgb in inputs.items():
        square = square_of(rgb)
        for size in [s for s in SIZES if s <= square.shape[0]]:
            truth = reference(square, size)
            key = f"{name}@{size}"
            truths[(name, size)] = truth
            raw = os.path.join(work, f"{key}.rgb")
            pixels = np.clip(truth, 0, 255).round().astype(np.uint8)
            pixels.tofile(raw)
            Image.fromarray(pixels).save(os.path.join(work, f"{key}.pillow.jpg"))
            pillow.append((name, size))
            for q in grid:
                for sampling in samplings:
                    out = os.path.join(work, f"{key}.ours.{q}.{sampling}.jpg")
                    ours.append(f"{raw} {size} {size} {q} {sampling} {out}")
                theirs.append(f"{raw} {size} {size} {q} {os.path.join(work, f'{key}.sharp.{q}.jpg')}")
            for name_of_rule, rules in (("rule", settings), ("smallest", smallest)):
                q, sampling = rules[size]
                out = os.path.join(work, f"{key}.ours.{name_of_rule}.jpg")
                ours.append(f"{raw} {size} {size} {q} {sampling} {out}")
            theirs.append(f"{raw} {size} {size} default {os.path.join(work, f'{key}.sharp.default.jpg')}")
    log(f"{len(inputs)} pictures, {len(truths)} renditions; encoding")
    run_jobs([example], ours)
    run_jobs(["node", os.path.join(HERE, "sharp_jpeg.js"), node], theirs)

    log("measuring")
    global TRUTHS
    TRUTHS = truths
    work_items = []  # ((tool, setting, size), path, (name, size))
    for (name, size) in truths:
        key = os.path.join(work, f"{name}@{size}")
        files = {("pillow", "default"): f"{key}.pillow.jpg"}
        files[("sharp", "default")] = f"{key}.sharp.default.jpg"
        files[("ours", "rule")] = f"{key}.ours.rule.jpg"
        files[("ours", "smallest")] = f"{key}.ours.smallest.jpg"
        for q in grid:
            files[("sharp", f"q{q}")] = f"{key}.sharp.{q}.jpg"
            for sampling in samplings:
                files[("ours", f"q{q} {sampling}")] = f"{key}.ours.{q}.{sampling}.jpg"
        for (tool, setting), path in files.items():
            work_items.append(((tool, setting, size), path, (name, size)))
    # One process per core (forked, so each reads the float references it inherits).
    with multiprocessing.get_context("fork").Pool(os.cpu_count()) as pool:
        measured = pool.map(measure_item, [(path, truth) for _, path, truth in work_items], 16)
    results = {}  # (tool, setting, size) -> list of (bytes, ssim, dssim, colour ssim)
    for (result_key, _, _), m in zip(work_items, measured):
        results.setdefault(result_key, []).append(m)
    with open(SAVED, "w") as saved:
        json.dump({"inputs": list(inputs), "grid": grid, "settings": settings,
                   "smallest": smallest,
                   "results": [[k, v] for k, v in results.items()]}, saved)
    tables(list(inputs), grid, settings, results)
    tables(list(inputs), grid, smallest, results, "smallest")


def tables(inputs, grid, settings, results, which="rule"):
    """The tables for the engine's rule (`which`: "rule", the default effort, or
    "smallest", the smallest JPEG effort; the grid's tables are printed with the first)."""
    def total(tool, setting, size):
        rows = results[(tool, setting, size)]
        return (
            sum(r[0] for r in rows),
            sum(r[1] for r in rows) / len(rows),
            sum(r[2] for r in rows) / len(rows),
            len(rows),
            sum(r[3] for r in rows) / len(rows),
        )

    def as_good(ours, theirs):
        """Mean luma SSIM, DSSIM and colour SSIM all equal or better."""
        return ours[1] >= theirs[1] and ours[2] <= theirs[2] and ours[4] >= theirs[4]

    effort = "the smallest JPEG effort" if which == "smallest" else "the standard JPEG effort"
    # The settings of this effort on the grid: rate-distortion quantisation ("t") or not.
    samplings = [
        s for s in SAMPLINGS
        if s.endswith("t") == (which == "smallest") and ("ours", f"q{grid[0]} {s}", SIZES[0]) in results
    ]
    print(f"pictures: {', '.join(inputs)}")
    print(f"\n# {effort}")
    print("\n## setphoto's rule against sharp's default output (same pixels, same reference)\n")
    print(
        "| size | n | rule | sharp bytes | sharp DSSIM / colour SSIM | ours bytes "
        "| ours DSSIM / colour SSIM | ours / sharp | Pillow q75 bytes | Pillow DSSIM / colour SSIM |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    sums = [0, 0]
    all_ok = True
    for size in SIZES:
        sharp = total("sharp", "default", size)
        ours = total("ours", which, size)
        pil = total("pillow", "default", size)
        sums[0] += ours[0]
        sums[1] += sharp[0]
        ok = as_good(ours, sharp)
        all_ok &= ok
        q, sampling = settings[size]
        mark = "" if ok else " (worse)"
        print(
            f"| {size} | {sharp[3]} | q{q} {sampling} | {sharp[0]} | {sharp[2]:.5f} / {sharp[4]:.4f} "
            f"| {ours[0]} | {ours[2]:.5f} / {ours[4]:.4f}{mark} | {ours[0] / sharp[0]:.3f} "
            f"| {pil[0]} | {pil[2]:.5f} / {pil[4]:.4f} |"
        )
    print(f"| total | | | {sums[1]} | | {sums[0]} | | {sums[0] / sums[1]:.3f} | | |")
    print(f"\nevery size at equal or better mean SSIM and DSSIM: {'yes' if all_ok else 'NO'}")

    print(f"\n## setphoto settings at least as good as sharp's default, cheapest first ({', '.join(samplings)})\n")
    print("| size | sharp DSSIM / colour SSIM | setting: bytes / sharp's, DSSIM / colour SSIM (the three cheapest) |")
    print("|---|---|---|")
    cheapest = [0, 0]
    for size in SIZES:
        sharp = total("sharp", "default", size)
        good = []
        for q in grid:
            for sampling in samplings:
                ours = total("ours", f"q{q} {sampling}", size)
                if as_good(ours, sharp):
                    good.append((ours[0] / sharp[0], q, sampling, ours[2], ours[4]))
        good.sort()
        if good:
            cheapest[0] += good[0][0] * sharp[0]
            cheapest[1] += sharp[0]
        cells = "; ".join(f"q{q} {s}: {r:.3f}, {d:.5f} / {c:.4f}" for r, q, s, d, c in good[:3])
        print(f"| {size} | {sharp[2]:.5f} / {sharp[4]:.4f} | {cells or 'none on the grid'} |")
    if cheapest[1]:
        print(f"| total | | the cheapest per size: {cheapest[0] / cheapest[1]:.3f} of sharp's bytes |")

    print("\n## sharp's bytes at our rule's quality (its quality grid, interpolated in DSSIM)\n")
    print("| size | ours / sharp at equal DSSIM |")
    print("|---|---|")
    for size in SIZES:
        ob, _, od = total("ours", which, size)[:3]
        curve = sorted((total("sharp", f"q{q}", size)[2], total("sharp", f"q{q}", size)[0]) for q in grid)
        match = None
        for (d0, b0), (d1, b1) in zip(curve, curve[1:]):
            if d0 <= od <= d1:
                t = (od - d0) / (d1 - d0) if d1 > d0 else 0
                match = math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0)))
        print(f"| {size} | {ob / match:.3f} |" if match else f"| {size} | off the grid |")


if __name__ == "__main__":
    main()
