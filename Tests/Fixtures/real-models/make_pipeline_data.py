#!/usr/bin/env python3
"""Realistic data sets for the real-model pipelines, written outside the repository.

    python3 Tests/Fixtures/real-models/make_pipeline_data.py [OUT_DIR]

OUT_DIR defaults to ${SHRINK_MODELS:-~/.cache/shrink-models}/data. Deterministic (seeded), so a
rerun writes the same arrays; the files are too large to commit (tens of MB) and cheap to make.

* ocr-cls-mobile-v2-{calib,eval,search,verify}.npz (128, 400, 200 and 500 lines, each set drawn
  with its own seed, so they share no sample): one text line per sample, 48x192 RGB, rendered with
  Pillow's built-in font at random sizes from random words and numbers (as receipts, labels and
  signs read), half of them upside down (the orientation classifier's two classes), normalised
  as rapidocr does ((x/255 - 0.5)/0.5, CHW). `x` only: the pipelines use label-free metrics.
"""
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WORDS = ("invoice total amount due paid receipt order number date customer account balance item price "
         "quantity tax discount subtotal cash card change thank you welcome store open closed hours street "
         "avenue road city station platform exit entrance warning danger caution keep door push pull low rank "
         "shrink model tensor layer weight matrix vector compress network image text line page chapter").split()


def line(rng):
    n = int(rng.integers(1, 4))
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.2:
            parts.append(f"{rng.integers(0, 10000)}")
        elif r < 0.3:
            parts.append(f"{rng.integers(0, 1000)}.{rng.integers(0, 100):02d}")
        else:
            w = WORDS[int(rng.integers(0, len(WORDS)))]
            parts.append(w.capitalize() if rng.random() < 0.3 else w.upper() if rng.random() < 0.1 else w)
    return " ".join(parts)


def render(rng):
    bg = tuple(int(v) for v in rng.integers(200, 256, 3))
    fg = tuple(int(v) for v in rng.integers(0, 70, 3))
    img = Image.new("RGB", (192, 48), bg)
    d = ImageDraw.Draw(img)
    size = int(rng.integers(18, 34))
    font = ImageFont.load_default(size=size)
    d.text((int(rng.integers(2, 20)), int(rng.integers(0, max(1, 46 - size)))), line(rng), fill=fg, font=font)
    a = np.asarray(img, dtype=np.float32)
    if rng.random() < 0.5:
        a = a[::-1, ::-1]  # upside down
    a = a + rng.normal(0, 3, a.shape)  # scanner noise
    return ((np.clip(a, 0, 255) / 255 - 0.5) / 0.5).transpose(2, 0, 1).astype(np.float32)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.environ.get("SHRINK_MODELS", os.path.expanduser("~/.cache/shrink-models")), "data")
    os.makedirs(out, exist_ok=True)
    for part, n, seed in (("calib", 128, 1), ("eval", 400, 2), ("search", 200, 3), ("verify", 500, 4)):
        rng = np.random.default_rng(seed)
        x = np.stack([render(rng) for _ in range(n)])
        path = os.path.join(out, f"ocr-cls-mobile-v2-{part}.npz")
        tmp = path + ".tmp.npz"
        np.savez(tmp, x=x)
        os.replace(tmp, path)
        print(path, x.shape)


if __name__ == "__main__":
    main()
