"""Generates a synthetic recogniser set: grey uint8 crops already in the engine's input layout.

    python -m candor_train.gen_ocr --out work/ocr_train.npz --count 120000 --seed 1
"""

from __future__ import annotations

import argparse
import multiprocessing as mp

import numpy as np

from . import synth

H, W = 32, 128


def _chunk(args):
    seed, n = args
    rng = np.random.default_rng(seed)
    xs = np.empty((n, H, W), np.uint8)
    labels = []
    for i in range(n):
        crop, text, two_row = synth.render_crop(rng)
        xs[i] = np.clip(synth.recogniser_input(crop, H, W, two_row), 0, 255).astype(np.uint8)
        labels.append(text)
    return xs, labels


def generate(count: int, seed: int, workers: int):
    chunk = 500
    jobs = [(seed * 1_000_003 + i, min(chunk, count - i * chunk)) for i in range((count + chunk - 1) // chunk)]
    with mp.Pool(workers) as pool:
        parts = pool.map(_chunk, jobs)
    xs = np.concatenate([p[0] for p in parts])
    labels = [t for p in parts for t in p[1]]
    return xs, labels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    xs, labels = generate(a.count, a.seed, a.workers)
    np.savez_compressed(a.out, x=xs, y=np.array(labels))
    print(f"wrote {len(labels)} crops to {a.out}")


if __name__ == "__main__":
    main()
