"""Pillow's word on image files, for tests/it/conformance.rs and tests/it/differential.rs.

Reads one job a line from stdin and answers one line per job on stdout, in order:

  verdict PATH        -> "ok" when Pillow opens the file and loads its (first) frame,
                         else "error <exception type>: <message>"
  rgba PATH OUT       -> as verdict, and on "ok" also writes the first frame converted to
                         RGBA (8 bits a sample, row by row) to OUT and answers
                         "ok W H X0 Y0 X1 Y1", the last four the first frame's rectangle
                         (the whole picture but for a GIF frame smaller than its screen)

Pillow's defaults are kept (no LOAD_TRUNCATED_IMAGES): a truncated file is an error.
"""

import sys
import warnings

from PIL import Image

warnings.simplefilter("ignore")
# The tests' files are small; a huge declared size is refused by the caller before this.
Image.MAX_IMAGE_PIXELS = None


def main():
    for line in sys.stdin:
        job = line.rstrip("\n").split("\t")
        try:
            with Image.open(job[1]) as im:
                x0, y0, x1, y1 = im.tile[0][1] if im.tile else (0, 0, im.width, im.height)
                im.load()
                if job[0] == "rgba":
                    rgba = im.convert("RGBA")
                    with open(job[2], "wb") as out:
                        out.write(rgba.tobytes())
                    answer = f"ok {rgba.width} {rgba.height} {x0} {y0} {x1} {y1}"
                else:
                    answer = "ok"
        except Exception as e:  # noqa: BLE001 (any refusal is a verdict)
            message = str(e).replace("\n", " ").replace("\t", " ")
            answer = f"error {type(e).__name__}: {message}"
        print(answer, flush=True)


if __name__ == "__main__":
    main()
