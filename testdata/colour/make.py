#!/usr/bin/env python3
"""Makes the colour-management fixtures in this folder, and LittleCMS's answers for them.

    python3 testdata/colour/make.py

The profiles are written here, byte by byte, from a made-up but printer-like model (no
third-party profile is copied): `cmyk_lut16.icc` is a CMYK -> Lab lut16 (mft2) profile of
four inks with dot gain, as print profiles (SWOP, FOGRA) are built; `rgb_lut16.icc` is an
RGB -> Lab lut16 profile with Display P3 primaries and a 1.8 gamma and no colorants, so
only its table can convert it. Each image is a grid of flat patches (so that decoders'
IDCT and a resize leave the patch centres alone), and each `*.lcms.png` is what Pillow's
ImageCms (LittleCMS) makes of the decoded image with relative colorimetric intent: the
reference the engine's conversion is held to.
"""
import math
import os
import struct

from PIL import Image, ImageCms

HERE = os.path.dirname(os.path.abspath(__file__))
D50 = (0.9642, 1.0, 0.8249)


def s15(v):
    return struct.pack(">i", int(round(v * 65536)))


def desc_tag(text):
    ascii_ = text.encode() + b"\0"
    body = b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_)) + ascii_
    body += struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67
    return body


def text_tag(text):
    return b"text" + b"\0" * 4 + text.encode() + b"\0"


def xyz_tag(xyz):
    return b"XYZ " + b"\0" * 4 + b"".join(s15(v) for v in xyz)


def lab16(lab):
    """Lab as ICC v2 16-bit PCS values (L: 0xFF00 = 100; a, b: 0x8000 = 0)."""
    l, a, b = lab
    clamp = lambda v: max(0, min(0xFFFF, int(round(v))))
    return (clamp(l / 100 * 0xFF00), clamp((a + 128) * 256), clamp((b + 128) * 256))


def mft2(inputs, grid, sample):
    """A lut16 tag: `inputs` channels to Lab, `grid` points a side, `sample(point)`
    giving Lab for device values in 0..1 (the first channel varies slowest)."""
    entries = 256
    body = b"mft2" + b"\0" * 4 + bytes([inputs, 3, grid, 0])
    body += b"".join(s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    body += struct.pack(">HH", entries, entries)
    ramp = b"".join(struct.pack(">H", i * 65535 // (entries - 1)) for i in range(entries))
    body += ramp * inputs
    for index in range(grid**inputs):
        point = []
        for _ in range(inputs):
            point.append(index % grid / (grid - 1))
            index //= grid
        body += struct.pack(">HHH", *lab16(sample(point[::-1])))
    body += ramp * 3
    return body


def profile(device_class, space, tags):
    """An ICC v2.1 profile with Lab PCS and the given (signature, data) tags."""
    table, data = b"", b""
    offset = 128 + 4 + 12 * len(tags)
    for signature, body in tags:
        while len(body) % 4:
            body += b"\0"
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I", size) + b"\0" * 4 + bytes([2, 0x10, 0, 0])
    header += device_class + space + b"Lab " + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
    header += b"acsp" + b"\0" * 24 + struct.pack(">I", 1)
    header += b"".join(s15(v) for v in D50) + b"\0" * 4
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def lab_of_xyz(xyz):
    f = lambda t: t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116
    fx, fy, fz = (f(v / w) for v, w in zip(xyz, D50))
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def linear_rgb_to_lab(rgb, matrix):
    return lab_of_xyz([sum(m * c for m, c in zip(row, rgb)) for row in matrix])


# sRGB's colorants adapted to D50 (the ICC sRGB profile's rXYZ, gXYZ, bXYZ as rows).
SRGB_D50 = [
    [0.4360, 0.3851, 0.1431],
    [0.2225, 0.7169, 0.0606],
    [0.0139, 0.0971, 0.7141],
]
# Display P3's colorants adapted to D50.
P3_D50 = [
    [0.5151, 0.2920, 0.1571],
    [0.2412, 0.6922, 0.0666],
    [-0.0011, 0.0419, 0.7841],
]


def inks(point):
    """Lab of a CMYK ink mix: dot gain, unwanted absorptions, and black that does not
    reach zero, in the way of a coated-paper press."""
    c, m, y, k = (1 - (1 - v) ** 1.35 for v in point)
    r = (1 - 0.93 * c) * (1 - 0.10 * m) * (1 - 0.02 * y)
    g = (1 - 0.35 * c) * (1 - 0.90 * m) * (1 - 0.08 * y)
    b = (1 - 0.12 * c) * (1 - 0.30 * m) * (1 - 0.92 * y)
    black = 1 - 0.90 * k
    # Relative to the paper, as an A2B table is: no ink is the PCS white.
    return linear_rgb_to_lab([v * black for v in (r, g, b)], SRGB_D50)


def p3_gamma_18(point):
    return linear_rgb_to_lab([v**1.8 for v in point], P3_D50)


def patches(mode, colours, side=16, per_row=8):
    rows = math.ceil(len(colours) / per_row)
    image = Image.new(mode, (per_row * side, rows * side))
    for i, colour in enumerate(colours):
        x, y = i % per_row * side, i // per_row * side
        image.paste(colour, (x, y, x + side, y + side))
    return image


def main():

    cmyk_icc = profile(b"prtr", b"CMYK", [
        (b"desc", desc_tag("setphoto test CMYK (lut16, Lab)")),
        (b"cprt", text_tag("No copyright, use freely")),
        (b"wtpt", xyz_tag(D50)),
        (b"A2B0", mft2(4, 9, inks)),
    ])
    write(cmyk_icc, "cmyk_lut16.icc")
    steps = (0, 40, 90, 150, 210, 255)
    colours = [(c, m, y, k) for c, m, y, k in
               ((steps[i % 6], steps[i // 6 % 6], steps[(i * 5 + 1) % 6], steps[(i * 7 + 2) % 6] // 2)
                for i in range(64))]
    colours[0] = (0, 0, 0, 0)
    colours[1] = (0, 0, 0, 255)
    colours[2] = (255, 0, 0, 0)
    colours[3] = (0, 255, 0, 0)
    colours[4] = (0, 0, 255, 0)
    image = patches("CMYK", colours)
    path = os.path.join(HERE, "cmyk_lut16.jpg")
    image.save(path, quality=95, subsampling=0, icc_profile=cmyk_icc)
    decoded = Image.open(path)
    decoded.load()
    assert decoded.mode == "CMYK"
    save_reference(decoded, cmyk_icc, "cmyk_lut16.lcms.png")

    rgb_icc = profile(b"mntr", b"RGB ", [
        (b"desc", desc_tag("setphoto test RGB (lut16, Lab, P3 gamma 1.8)")),
        (b"cprt", text_tag("No copyright, use freely")),
        (b"wtpt", xyz_tag(D50)),
        (b"A2B0", mft2(3, 17, p3_gamma_18)),
    ])
    write(rgb_icc, "rgb_lut16.icc")
    colours = [(r, g, b) for r, g, b in
               ((steps[i % 6], steps[i // 6 % 6], steps[(i * 5 + 1) % 6]) for i in range(64))]
    image = patches("RGB", colours)
    path = os.path.join(HERE, "rgb_lut16.png")
    image.save(path, icc_profile=rgb_icc)
    save_reference(image, rgb_icc, "rgb_lut16.lcms.png")


def write(data, name):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def save_reference(image, icc, name):
    """LittleCMS's sRGB rendering of `image` through `icc` (relative colorimetric)."""
    reference = ImageCms.profileToProfile(
        image, ImageCms.ImageCmsProfile(io_bytes(icc)), ImageCms.createProfile("sRGB"),
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, outputMode="RGB")
    reference.save(os.path.join(HERE, name))


def io_bytes(data):
    import io
    return io.BytesIO(data)


if __name__ == "__main__":
    main()
