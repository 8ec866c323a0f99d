#!/usr/bin/env python3
"""Colour shift of wide-gamut uploads: CIEDE2000 between the 192 px rendition of a tagged
twin and that of its untagged sRGB truth, over 16x16 block means.

    benches/quality/colour.py [PHOTO ...]      (default: ../shared/bench/corpus/*.jpg)
    benches/quality/colour.py --cost [ROUNDS] [PHOTO]   (default: 21, photo_12mp.jpg)

Twins: `examples/wide_gamut.rs` (moxcms: Display P3, Adobe RGB, ProPhoto) and, as an
independent maker, Pillow's ImageCms (LittleCMS) with Debian's Adobe RGB profile
(icc-profiles-free, installed if missing). Each twin is also rendered with its profile
removed, which is what a service that drops profiles shows. The sRGB truth is also
rendered with Debian's sRGB profile inserted (same JPEG bytes otherwise): its renditions
must be identical to the untagged ones. Needs Pillow; builds setphoto and the example in
release mode ($CARGO_TARGET_DIR is honoured).

`--cost` times the whole `setphoto process` of the photo's Display P3 twin and of the
same file with its APP2 profile cut (identical scan data), alternating, and prints the
medians: what converting to sRGB costs. `--cost-cmyk` does the same for the photo's CMYK
twin (below), with peak RSS.

CMYK: where Ghostscript's SWOP profile is installed (libgs-common), the sRGB truth is
also converted to CMYK through it by LittleCMS and saved as an Adobe CMYK JPEG carrying
it; its profile-less twin is what the engine's naive ink arithmetic makes of it. The
shift of that twin includes SWOP's gamut (sRGB colours no press prints), so it is not
expected near zero: it is there to compare with the naive conversion.
"""
import glob
import io
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from PIL import Image, ImageCms

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADOBE = "/usr/share/color/icc/compatibleWithAdobeRGB1998.icc"
SRGB = "/usr/share/color/icc/sRGB.icc"
SWOP = "/usr/share/color/icc/ghostscript/default_cmyk.icc"


def lab(rgb):
    """sRGB (0-255) to CIELAB (D65)."""
    def linear(c):
        c /= 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in rgb)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
    f = lambda t: t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116
    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def ciede2000(lab1, lab2):
    """CIEDE2000 colour difference (kL = kC = kH = 1)."""
    l1, a1, b1 = lab1
    l2, a2, b2 = lab2
    c1, c2 = math.hypot(a1, b1), math.hypot(a2, b2)
    cm = (c1 + c2) / 2
    g = 0.5 * (1 - math.sqrt(cm ** 7 / (cm ** 7 + 25 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360
    h2p = math.degrees(math.atan2(b2, a2p)) % 360
    dlp, dcp = l2 - l1, c2p - c1p
    if c1p * c2p == 0:
        dhp = 0
    elif abs(h2p - h1p) <= 180:
        dhp = h2p - h1p
    elif h2p - h1p > 180:
        dhp = h2p - h1p - 360
    else:
        dhp = h2p - h1p + 360
    dhp_big = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dhp / 2))
    lpm, cpm = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        hpm = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        hpm = (h1p + h2p) / 2
    elif h1p + h2p < 360:
        hpm = (h1p + h2p + 360) / 2
    else:
        hpm = (h1p + h2p - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(hpm - 30)) + 0.24 * math.cos(math.radians(2 * hpm))
         + 0.32 * math.cos(math.radians(3 * hpm + 6)) - 0.20 * math.cos(math.radians(4 * hpm - 63)))
    dtheta = 30 * math.exp(-(((hpm - 275) / 25) ** 2))
    rc = 2 * math.sqrt(cpm ** 7 / (cpm ** 7 + 25 ** 7))
    sl = 1 + 0.015 * (lpm - 50) ** 2 / math.sqrt(20 + (lpm - 50) ** 2)
    sc, sh = 1 + 0.045 * cpm, 1 + 0.015 * cpm * t
    rt = -math.sin(math.radians(2 * dtheta)) * rc
    return math.sqrt((dlp / sl) ** 2 + (dcp / sc) ** 2 + (dhp_big / sh) ** 2
                     + rt * (dcp / sc) * (dhp_big / sh))


def block_means(image, block=16):
    pixels = image.load()
    means = []
    for by in range(0, image.height, block):
        for bx in range(0, image.width, block):
            total = [0, 0, 0]
            n = 0
            for y in range(by, min(by + block, image.height)):
                for x in range(bx, min(bx + block, image.width)):
                    for i, v in enumerate(pixels[x, y][:3]):
                        total[i] += v
                    n += 1
            means.append(tuple(t / n for t in total))
    return means


def segments(jpeg):
    """A JPEG's bytes as (marker, segment bytes) up to the first scan, then the rest."""
    pos, out = 2, []
    while jpeg[pos + 1] != 0xDA:
        length = int.from_bytes(jpeg[pos + 2:pos + 4], "big")
        out.append((jpeg[pos + 1], jpeg[pos:pos + 2 + length]))
        pos += 2 + length
    return out, jpeg[pos:]


def without_profile(jpeg):
    """The JPEG with its APP2 ICC_PROFILE segments cut, every other byte kept."""
    heads, rest = segments(jpeg)
    kept = [s for m, s in heads if not (m == 0xE2 and s[4:16] == b"ICC_PROFILE\0")]
    return jpeg[:2] + b"".join(kept) + rest


def with_profile(jpeg, icc):
    """The JPEG with `icc` inserted after SOI as APP2 ICC_PROFILE segments."""
    parts = [icc[i:i + 65519] for i in range(0, len(icc), 65519)]
    app2 = b"".join(b"\xff\xe2" + (len(p) + 16).to_bytes(2, "big") + b"ICC_PROFILE\0"
                    + bytes([i + 1, len(parts)]) + p for i, p in enumerate(parts))
    return jpeg[:2] + app2 + jpeg[2:]


def rendition(setphoto, path, work):
    out = tempfile.mkdtemp(dir=work)
    subprocess.run([setphoto, "process", path, "--out", out], check=True, capture_output=True)
    (name,) = [f for f in os.listdir(out) if "_192." in f]
    return Image.open(os.path.join(out, name)).convert("RGB")


def shift(a, b):
    diffs = [ciede2000(lab(x), lab(y)) for x, y in zip(block_means(a), block_means(b))]
    return sum(diffs) / len(diffs), max(diffs)


def untagged(path, work):
    """The twin with its profile removed (same pixels, no ICC)."""
    image = Image.open(path)
    out = os.path.join(work, "untagged_" + os.path.basename(path))
    image.save(out, quality=95, subsampling=0)
    return out


def cmyk_twin(srgb_path, work):
    """The sRGB picture converted to CMYK through SWOP by LittleCMS, as an Adobe CMYK JPEG
    carrying SWOP."""
    srgb = Image.open(srgb_path).convert("RGB")
    cmyk = ImageCms.profileToProfile(srgb, ImageCms.createProfile("sRGB"), SWOP,
                                     renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
                                     outputMode="CMYK")
    path = os.path.join(work, os.path.basename(srgb_path) + "_cmyk-swop.jpg")
    cmyk.save(path, quality=92, icc_profile=open(SWOP, "rb").read())
    return path


def cost(setphoto, maker, photo, rounds, work, kind="p3"):
    made = subprocess.run([maker, photo, work], check=True, capture_output=True, text=True).stdout.split()
    if kind == "cmyk":
        (srgb,) = [p for p in made if p.endswith("_srgb.jpg")]
        tagged = cmyk_twin(srgb, work)
    else:
        (tagged,) = [p for p in made if p.endswith("_p3.jpg")]
    untagged = os.path.join(work, f"untagged_{kind}.jpg")
    with open(tagged, "rb") as f, open(untagged, "wb") as out:
        out.write(without_profile(f.read()))
    wall = {tagged: [], untagged: []}
    cpu = {tagged: [], untagged: []}
    rss = {tagged: [], untagged: []}
    for _ in range(rounds):
        for path in wall:
            out = tempfile.mkdtemp(dir=work)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            timed = subprocess.run(["/usr/bin/time", "-f", "%M", setphoto, "process", path, "--out", out],
                                   check=True, capture_output=True, text=True)
            wall[path].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[path].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            rss[path].append(int(timed.stderr.split()[-1]) / 1024)
    name_of = {"p3": "Display P3", "cmyk": "Adobe CMYK with SWOP"}[kind]
    for name, times in (("wall", wall), ("CPU (user + system)", cpu)):
        with_ms, without_ms = (statistics.median(t) * 1000 for t in times.values())
        print(f"{os.path.basename(photo)} as {name_of}, `setphoto process`, {name} time, median of {rounds} "
              f"alternating runs: {with_ms:.1f} ms with the profile, {without_ms:.1f} ms without "
              f"(+{with_ms - without_ms:.1f} ms, {with_ms / without_ms:.3f}x)")
    with_mb, without_mb = (statistics.median(r) for r in rss.values())
    print(f"peak RSS, median: {with_mb:.1f} MiB with the profile, {without_mb:.1f} MiB without")


def main():
    args = sys.argv[1:]
    if not os.path.exists(ADOBE):
        subprocess.run(["apt-get", "install", "-y", "-q", "icc-profiles-free"], check=False, capture_output=True)
    subprocess.run(["cargo", "build", "--release", "--features", "cli", "--example", "wide_gamut", "--bin", "setphoto"],
                   cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    setphoto = os.path.join(target, "release", "setphoto")
    maker = os.path.join(target, "release", "examples", "wide_gamut")
    work = tempfile.mkdtemp()
    corpus = os.path.join(ROOT, "..", "shared", "bench", "corpus")
    if args[:1] in (["--cost"], ["--cost-cmyk"]):
        rounds = int(args[1]) if len(args) > 1 and args[1].isdigit() else 21
        photo = ([a for a in args[1:] if not a.isdigit()] or [os.path.join(corpus, "photo_12mp.jpg")])[0]
        cost(setphoto, maker, photo, rounds, work, "cmyk" if args[0] == "--cost-cmyk" else "p3")
        return
    photos = args or sorted(glob.glob(os.path.join(corpus, "*.jpg")))
    print("| photo | profile | mean dE00 converted | max | mean dE00 profile ignored | max |")
    print("|---|---|---|---|---|---|")
    for photo in photos:
        made = subprocess.run([maker, photo, work], check=True, capture_output=True, text=True).stdout.split()
        twins = {os.path.splitext(p)[0].rsplit("_", 1)[1]: p for p in made}
        if os.path.exists(ADOBE):
            srgb = Image.open(twins["srgb"]).convert("RGB")
            to_adobe = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ADOBE, "RGB", "RGB")
            lcms = ImageCms.applyTransform(srgb, to_adobe)
            path = os.path.join(work, os.path.basename(photo) + "_adobe-lcms.jpg")
            lcms.save(path, quality=95, icc_profile=open(ADOBE, "rb").read())
            twins["adobe (lcms2)"] = path
        if os.path.exists(SWOP):
            twins["cmyk swop (lcms2)"] = cmyk_twin(twins["srgb"], work)
        truth_path = twins.pop("srgb")
        truth = rendition(setphoto, truth_path, work)
        if os.path.exists(SRGB):
            tagged = os.path.join(work, os.path.basename(photo) + "_srgb-tagged.jpg")
            with open(truth_path, "rb") as f, open(tagged, "wb") as out, open(SRGB, "rb") as icc:
                out.write(with_profile(f.read(), icc.read()))
            same = rendition(setphoto, tagged, work).tobytes() == truth.tobytes()
            print(f"| {os.path.basename(photo)} | srgb (Debian sRGB.icc) | "
                  f"{'identical pixels' if same else 'PIXELS DIFFER'} | | | |", flush=True)
        for name, path in twins.items():
            converted = shift(rendition(setphoto, path, work), truth)
            ignored = shift(rendition(setphoto, untagged(path, work), work), truth)
            print(f"| {os.path.basename(photo)} | {name} | {converted[0]:.2f} | {converted[1]:.2f} "
                  f"| {ignored[0]:.2f} | {ignored[1]:.2f} |", flush=True)
        if "cmyk swop (lcms2)" in twins:
            # The same CMYK file converted by LittleCMS: the truth without SWOP's gamut.
            cmyk = Image.open(twins["cmyk swop (lcms2)"])
            lcms = ImageCms.profileToProfile(cmyk, SWOP, ImageCms.createProfile("sRGB"),
                                             renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
                                             outputMode="RGB")
            path = os.path.join(work, os.path.basename(photo) + "_cmyk-lcms-srgb.jpg")
            lcms.save(path, quality=95, subsampling=0)
            against = shift(rendition(setphoto, twins["cmyk swop (lcms2)"], work),
                            rendition(setphoto, path, work))
            print(f"| {os.path.basename(photo)} | cmyk swop, against LittleCMS's conversion | "
                  f"{against[0]:.2f} | {against[1]:.2f} | | |", flush=True)


if __name__ == "__main__":
    main()
