"""Realistic inputs for ocr-cls-mobile-v2 on the device path: 12 text lines rendered as
Tests/Fixtures/real-models/make_inputs.py renders them (Pillow's built-in font, 192x48,
normalised as rapidocr does), each upright and turned by 180 degrees (the two classes the
model tells apart). `y` is the float ONNX model's top-1 (onnxruntime), so accuracy against it is
agreement with the float original. Writes ocr-cls-lines.npz (compressed) next to this file.

    python3 Tests/Fixtures/device/make_ocr_cls_lines.py ~/.cache/shrink-models/rapidocr-onnxruntime-1.4.4/ocr-cls-mobile-v2.onnx
"""
import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageDraw, ImageFont

LINES = ["Shrink 0.9 ships", "Invoice 2024-117", "Total: 48.90 EUR", "Thank you!", "low-rank",
         "Cortex-M4 int8", "PaddleOCR cls", "Hello, world", "12 Main Street", "Fri 4 Dec 2026",
         "QTY 3 x 7.50", "Tucker-2 rank 6"]


def text_image(text, width=192, height=48, size=30):
    img = Image.new("RGB", (width, height), (245, 243, 238))
    ImageDraw.Draw(img).text((6, 4), text, fill=(20, 20, 30), font=ImageFont.load_default(size=size))
    return np.asarray(img, dtype=np.float32)


def main():
    images = []
    for t in LINES:
        img = text_image(t)
        images += [img, img[::-1, ::-1]]
    x = np.stack([((i / 255 - 0.5) / 0.5).transpose(2, 0, 1) for i in images]).astype(np.float32)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
    y = s.run(None, {"x": x})[0].argmax(1).astype(np.int64)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ocr-cls-lines.npz")
    np.savez_compressed(out, x=x, y=y)
    print(out, x.shape, "labels", y.tolist())


if __name__ == "__main__":
    main()
