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
  ocr-cls-mobile-v2-search1000.npz: 1,000 more lines (seed 5), a search set large enough for the
  search's sampling margin to leave room under a 1-point bound (1.645·sqrt(0.99·0.01/n) is 1.2
  points at n = 200, 0.5 at n = 1,000).
* ocr-rec-ppocrv4-{calib,search,verify}.npz (64, 150 and 300 lines): the same kind of line,
  upright, 48x160 (the recogniser reads any width; 160 keeps its 280 M MACs per 320-wide line
  at half), normalised the same way. ocr-rec-ppocrv4-search1000.npz: 1,000 more lines (seed 15),
  for the same reason as the classifier's (the margin for a 3-point bound is 2.3 points at
  n = 150, 0.9 at n = 1,000).
* oww-embedding-{calib,search,verify}.npz (128, 200 and 400 windows): speech synthesised by
  espeak-ng (Debian) from short English phrases, a different phrase list per set, voices en-us and
  en-gb at several speeds and pitches, resampled to 16 kHz, turned into mel frames by the
  openwakeword melspectrogram model (onnxruntime; `mel/10 + 2` as openwakeword scales them) and
  cut into the embedding model's 76-frame windows every 8 frames ([N, 76, 32, 1]).
* ocr-det-ppocrv4-{calib,search,verify}.npz (64, 200 and 300 pages, seeds 31, 33, 34): text pages
  of 160x320 (the detector takes any multiple of 32; at this size a page costs 280 M MACs and
  Shrink's engine scores one in about 12 ms on one core), each with 2 to 5 lines of the same
  kind of text at 12 to 30 px, dark on light (60 %), light on dark (20 %) or on a coloured
  background with contrasting text (20 %), random exposure and noise, normalised with ImageNet's
  mean and std in RGB, CHW (as rapidocr feeds its detector).

Only the sets of the models named on the command line after OUT_DIR are written (default: all).
"""
import os
import subprocess
import sys
import tempfile
import wave

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


def render(rng, width=192, flip=True):
    bg = tuple(int(v) for v in rng.integers(200, 256, 3))
    fg = tuple(int(v) for v in rng.integers(0, 70, 3))
    img = Image.new("RGB", (width, 48), bg)
    d = ImageDraw.Draw(img)
    size = int(rng.integers(18, 34))
    font = ImageFont.load_default(size=size)
    d.text((int(rng.integers(2, 20)), int(rng.integers(0, max(1, 46 - size)))), line(rng), fill=fg, font=font)
    a = np.asarray(img, dtype=np.float32)
    if flip and rng.random() < 0.5:
        a = a[::-1, ::-1]  # upside down
    a = a + rng.normal(0, 3, a.shape)  # scanner noise
    return ((np.clip(a, 0, 255) / 255 - 0.5) / 0.5).transpose(2, 0, 1).astype(np.float32)


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def page(rng, height=160, width=320):
    """A page for the text detector: 2 to 5 lines at random sizes, colours and indents."""
    kind = rng.random()
    if kind < 0.6:  # dark on light: paper, receipts, labels
        bg, fg = rng.integers(190, 256, 3), rng.integers(0, 80, 3)
    elif kind < 0.8:  # light on dark: signs, screens
        bg, fg = rng.integers(0, 70, 3), rng.integers(180, 256, 3)
    else:  # a coloured background with contrasting text
        bg = rng.integers(40, 230, 3)
        dark = float(bg @ np.array([0.299, 0.587, 0.114])) < 128
        fg = rng.integers(200, 256, 3) if dark else rng.integers(0, 50, 3)
    img = Image.new("RGB", (width, height), tuple(int(v) for v in bg))
    d = ImageDraw.Draw(img)
    n = int(rng.integers(2, 6))
    largest = min(30, (height - 8) // n - 4)
    y = int(rng.integers(2, 10))
    for _ in range(n):
        size = int(rng.integers(12, max(13, largest + 1)))
        if y + size > height - 2:
            break
        font = ImageFont.load_default(size=size)
        d.text((int(rng.integers(4, 40)), y), line(rng), fill=tuple(int(v) for v in fg), font=font)
        y += size + int(rng.integers(4, 14))
    a = np.asarray(img, dtype=np.float32)
    a = a * rng.uniform(0.85, 1.1) + rng.uniform(-15, 15)  # exposure
    a = a + rng.normal(0, rng.uniform(2, 6), a.shape)  # sensor noise
    return ((np.clip(a, 0, 255) / 255 - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1).astype(np.float32)


PHRASES = {
    "calib": ["hey jarvis what is the weather today", "turn on the kitchen lights", "set a timer for ten minutes",
              "play some music in the living room", "what time is it in tokyo", "remind me to call my sister"],
    "search": ["open the garage door please", "how long is my commute this morning", "add milk and eggs to the list",
               "what is the capital of australia", "stop the alarm", "read me the latest news",
               "is it going to rain tomorrow", "lower the volume a little"],
    "verify": ["alexa order more coffee beans", "start the robot vacuum in the hallway", "what is seven times eight",
               "call the nearest pharmacy", "dim the bedroom lights to twenty percent", "how tall is mount everest",
               "skip to the next song", "lock the front door", "what does my calendar look like on friday",
               "translate good morning into spanish", "find a recipe for pancakes", "turn off the heater at midnight"],
}


def speech(text, voice, speed, pitch):
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "s.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", wav, text], check=True)
        with wave.open(wav) as w:
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
    n = int(len(pcm) * 16000 / rate)
    return np.interp(np.arange(n) * rate / 16000, np.arange(len(pcm)), pcm)


def embedding_windows(part, count, seed, models):
    import onnxruntime as ort
    mel_model = ort.InferenceSession(os.path.join(models, "openwakeword-0.5.1", "oww-melspectrogram.onnx"),
                                     providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    windows = []
    while len(windows) < count:
        for text in PHRASES[part]:
            voice = ("en-us", "en-gb")[int(rng.integers(0, 2))]
            audio = speech(text, voice, int(rng.integers(120, 190)), int(rng.integers(30, 70)))
            audio = np.pad(audio, (4000, 4000)) + rng.normal(0, 30, len(audio) + 8000)  # room noise
            mel = mel_model.run(None, {"input": audio[None].astype(np.float32)})[0][0, 0] / 10 + 2
            for i in range(0, len(mel) - 76, 8):
                windows.append(mel[i:i + 76])
    idx = rng.permutation(len(windows))[:count]
    return np.stack([windows[i] for i in idx])[:, :, :, None].astype(np.float32)


def write(out, name, part, x):
    path = os.path.join(out, f"{name}-{part}.npz")
    tmp = path + ".tmp.npz"
    np.savez(tmp, x=x)
    os.replace(tmp, path)
    print(path, x.shape)


def main():
    models = os.environ.get("SHRINK_MODELS", os.path.expanduser("~/.cache/shrink-models"))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(models, "data")
    wanted = set(sys.argv[2:]) or {"ocr-cls-mobile-v2", "ocr-rec-ppocrv4", "oww-embedding", "ocr-det-ppocrv4"}
    os.makedirs(out, exist_ok=True)
    if "ocr-cls-mobile-v2" in wanted:
        for part, n, seed in (("calib", 128, 1), ("eval", 400, 2), ("search", 200, 3), ("verify", 500, 4),
                              ("search1000", 1000, 5)):
            rng = np.random.default_rng(seed)
            write(out, "ocr-cls-mobile-v2", part, np.stack([render(rng) for _ in range(n)]))
    if "ocr-rec-ppocrv4" in wanted:
        for part, n, seed in (("calib", 64, 11), ("search", 150, 13), ("verify", 300, 14), ("search1000", 1000, 15)):
            rng = np.random.default_rng(seed)
            write(out, "ocr-rec-ppocrv4", part, np.stack([render(rng, width=160, flip=False) for _ in range(n)]))
    if "oww-embedding" in wanted:
        for part, n, seed in (("calib", 128, 21), ("search", 200, 23), ("verify", 400, 24)):
            write(out, "oww-embedding", part, embedding_windows(part, n, seed, models))
    if "ocr-det-ppocrv4" in wanted:
        for part, n, seed in (("calib", 64, 31), ("search", 200, 33), ("verify", 300, 34)):
            rng = np.random.default_rng(seed)
            write(out, "ocr-det-ppocrv4", part, np.stack([page(rng) for _ in range(n)]))


if __name__ == "__main__":
    main()
