#!/usr/bin/env python3
"""PNG rendition bytes against Pillow's default PNG writer for the same pixels.

For every PNG upload (testdata/inputs/*.png, ../shared/bench/corpus/*.png when present, and
pictures this script generates: logos, grey, palette, fine patterns), runs
`setphoto process FILE --upscale --png-renditions always --out DIR` (opaque uploads too),
decodes each PNG rendition with Pillow and re-saves it with Pillow's defaults (zlib level 6, adaptive filters, optimize=False; Pillow
keeps the rendition's mode: grey stays L, palette stays P at the same bit depth with its
tRNS), then prints our bytes / Pillow's bytes per rendition, per class of upload and in
total. Every rendition is also checked to decode to the same pixels Pillow re-saved.

Usage: python3 benches/quality/png_sizes.py [--setphoto PATH] [--quiet] [--keep DIR]
`--keep DIR` keeps the renditions in DIR with `DIR/pillow.tsv` (file, class, size, Pillow's
bytes), the input of `cargo run --release --example png_strategies -- DIR`.
The binary defaults to $CARGO_TARGET_DIR/release/setphoto or target/release/setphoto
(build it with `cargo build --release`). Needs python3 with Pillow.
"""
import argparse
import glob
import io
import json
import os
import subprocess
import sys
import tempfile

from PIL import Image, ImageDraw, ImageFilter

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "..", "shared", "bench", "corpus")
SIZES = (24, 32, 48, 72, 192, 512, 1024)


def default_binary():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(target, "release", "setphoto")


def shapes(draw, scale, colours):
    """Flat shapes of a logo, drawn at `scale` times the 600 px design."""
    s = scale
    draw.ellipse((60 * s, 60 * s, 340 * s, 340 * s), fill=colours[0])
    draw.rectangle((260 * s, 200 * s, 540 * s, 480 * s), fill=colours[1])
    draw.polygon([(100 * s, 540 * s), (300 * s, 380 * s), (420 * s, 560 * s)], fill=colours[2])
    draw.rectangle((380 * s, 60 * s, 560 * s, 120 * s), fill=colours[3])


def generate(folder):
    """Writes the generated uploads; returns [(class, path)]."""
    out = []

    def save(cls, name, im):
        path = os.path.join(folder, name)
        im.save(path)
        out.append((cls, path))

    colours = [(220, 40, 40), (30, 90, 200), (250, 190, 20), (20, 20, 20)]
    # Logos: flat colours with anti-aliased edges (drawn at 4x, reduced), on white and on
    # transparency.
    big = Image.new("RGB", (2400, 2400), (255, 255, 255))
    shapes(ImageDraw.Draw(big), 4, colours)
    save("logo", "logo_600.png", big.resize((600, 600), Image.LANCZOS))
    big = Image.new("RGBA", (2400, 2400), (0, 0, 0, 0))
    shapes(ImageDraw.Draw(big), 4, [c + (255,) for c in colours])
    save("logo", "logo_alpha_600.png", big.resize((600, 600), Image.LANCZOS))
    # A flat-colour logo without anti-aliasing at a rendition size: its 512 rendition keeps
    # the upload's few colours, so it is written with a palette.
    flat = Image.new("RGB", (600, 600), (255, 255, 255))
    shapes(ImageDraw.Draw(flat), 1, colours)
    save("palette", "palette_512.png", flat.resize((512, 512), Image.NEAREST).convert("P", palette=Image.ADAPTIVE, colors=16))
    flat_a = Image.new("RGBA", (192, 192), (0, 0, 0, 0))
    d = ImageDraw.Draw(flat_a)
    d.ellipse((20, 20, 170, 170), fill=(30, 90, 200, 255))
    d.rectangle((60, 60, 130, 130), fill=(250, 190, 20, 128))
    save("palette", "palette_alpha_192.png", flat_a)
    # Grey: a smooth photo-like picture (gradient, blurred noise), opaque and with alpha.
    noise = Image.effect_noise((640, 480), 60).filter(ImageFilter.GaussianBlur(3))
    ramp = Image.linear_gradient("L").resize((640, 480))
    grey = Image.blend(noise, ramp, 0.5)
    save("grey", "grey_640x480.png", grey)
    save("grey", "grey_rgb_512.png", grey.crop((0, 0, 512, 480)).resize((512, 512)).convert("RGB"))
    ga = Image.merge("LA", (grey, Image.radial_gradient("L").resize((640, 480)).point(lambda v: 255 - v)))
    save("grey", "grey_alpha_640x480.png", ga)
    # Fine patterns: 1 px checkerboard and 2 px stripes at rendition sizes (kept exactly at
    # that size), and a 1 px checkerboard that every other size resamples.
    for side in (192, 512):
        board = Image.new("RGB", (side, side))
        board.putdata([(230, 30, 30) if (i % side + i // side) % 2 else (30, 30, 230) for i in range(side * side)])
        save("pattern", f"checker_{side}.png", board)
    stripes = Image.new("L", (512, 512))
    stripes.putdata([255 if (i % 512) // 2 % 2 else 0 for i in range(512 * 512)])
    save("pattern", "stripes_grey_512.png", stripes)
    return out


def uploads(folder):
    found = [("fixture", p) for p in sorted(glob.glob(os.path.join(ROOT, "testdata", "inputs", "*.png")))]
    found += [("corpus", p) for p in sorted(glob.glob(os.path.join(CORPUS, "*.png")))]
    return found + generate(folder)


def pillow_default(im):
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def describe(im):
    """The rendition's PNG colour type as Pillow reads it: L, LA, RGB, RGBA or P/colours."""
    if im.mode == "P":
        return f"P/{len(im.palette.getdata()[1]) // 3}" + ("+tRNS" if "transparency" in im.info else "")
    return im.mode


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setphoto", default=default_binary())
    ap.add_argument("--quiet", action="store_true", help="totals only")
    ap.add_argument("--keep", metavar="DIR", help="keep the renditions and Pillow's sizes here")
    args = ap.parse_args()
    if not os.path.exists(args.setphoto):
        sys.exit(f"{args.setphoto} is missing: run `cargo build --release` first")

    classes = {}
    total = [0, 0]
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for cls, path in uploads(tmp):
            out = os.path.join(args.keep or tmp, "out", os.path.basename(path))
            # PNG renditions for every upload, opaque ones included (by default those are JPEG).
            run = subprocess.run([args.setphoto, "process", path, "--upscale", "--png-renditions", "always",
                                  "--out", out],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                print(f"skip {path}: {run.stdout.strip()} {run.stderr.strip()}", file=sys.stderr)
                continue
            profile = json.loads(run.stdout)["profile"]
            for size in SIZES:
                url = profile[f"image_{size}"]
                file = url.removeprefix("file://")
                if not file.endswith(".png"):
                    continue
                ours = os.path.getsize(file)
                with Image.open(file) as im:
                    im.load()
                    theirs = pillow_default(im)
                    with Image.open(io.BytesIO(theirs)) as back:
                        if back.convert("RGBA").tobytes() != im.convert("RGBA").tobytes():
                            sys.exit(f"{file}: Pillow's copy decodes differently")
                    mode = describe(im)
                rows.append((cls, os.path.basename(path), size, mode, ours, len(theirs)))
                if args.keep:
                    with open(os.path.join(args.keep, "pillow.tsv"), "a") as tsv:
                        tsv.write(f"{file}\t{cls}\t{size}\t{len(theirs)}\n")
                c = classes.setdefault(cls, [0, 0])
                c[0] += ours
                c[1] += len(theirs)
                total[0] += ours
                total[1] += len(theirs)

    if not args.quiet:
        print(f"{'class':8} {'upload':26} {'size':>5} {'mode':>11} {'ours':>9} {'pillow':>9} {'ratio':>6}")
        for cls, name, size, mode, ours, theirs in rows:
            print(f"{cls:8} {name:26} {size:>5} {mode:>11} {ours:>9} {theirs:>9} {ours / theirs:>6.3f}")
        print()
    print(f"{'class':8} {'ours':>10} {'pillow':>10} {'ratio':>6}")
    for cls, (ours, theirs) in classes.items():
        print(f"{cls:8} {ours:>10} {theirs:>10} {ours / theirs:>6.3f}")
    print(f"{'total':8} {total[0]:>10} {total[1]:>10} {total[0] / total[1]:>6.3f}")
    sizes = {}
    for _, _, size, _, ours, theirs in rows:
        s = sizes.setdefault(size, [0, 0])
        s[0] += ours
        s[1] += theirs
    print("per size: " + "  ".join(f"{s}: {o / t:.3f}" for s, (o, t) in sorted(sizes.items())))


if __name__ == "__main__":
    main()
