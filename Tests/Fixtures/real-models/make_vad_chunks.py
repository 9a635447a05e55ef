#!/usr/bin/env python3
"""Committed fixture data for the multi-input pipeline test (RealModelPipelineTests): speech
chunks for openwakeword's Silero VAD (inputs `input` [N, 512], `sr` [], `h` and `c` [2, N, 64]).

    python3 Tests/Fixtures/real-models/make_vad_chunks.py

Writes Tests/Fixtures/real-models/vad-chunks-{search,verify}.npz: 32 chunks each of 512 samples at
16 kHz — speech by espeak-ng (Debian) from a different phrase list per set, quiet room noise
between words, so both speech and non-speech chunks occur — as `x` (the model's first input), the
sample rate `sr` (one value all samples share) and zero LSTM states `h` and `c` with the samples
on axis 1, as the model declares them. Deterministic (seeded).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_pipeline_data import speech  # noqa: E402

PHRASES = {
    "search": ["turn on the kitchen lights", "what time is it", "set a timer for ten minutes"],
    "verify": ["play some music", "how is the weather today", "open the garage door"],
}


def chunks(part, count, seed):
    rng = np.random.default_rng(seed)
    audio = []
    for k, text in enumerate(PHRASES[part]):
        s = speech(text, ("en-us", "en-gb")[k % 2], 150 + 20 * k, 40 + 10 * k)
        audio += [rng.normal(0, 30, 4000), s]
    audio = np.concatenate(audio + [rng.normal(0, 30, 4000)])
    starts = np.linspace(0, len(audio) - 512, count).astype(int)
    x = np.stack([audio[s:s + 512] for s in starts]) / 32768.0
    return x.astype(np.float32)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for part, seed in (("search", 31), ("verify", 32)):
        x = chunks(part, 32, seed)
        n = len(x)
        path = os.path.join(here, f"vad-chunks-{part}.npz")
        np.savez_compressed(path, x=x, sr=np.array(16000, dtype=np.int64),
                            h=np.zeros((2, n, 64), np.float32), c=np.zeros((2, n, 64), np.float32))
        print(path, x.shape)


if __name__ == "__main__":
    main()
