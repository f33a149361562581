"""Generates a synthetic recogniser set: grey uint8 crops already in the engine's input layout,
or (--crops-dir) the same crops as plain images in a folder `candor eval` reads, so the engine's
own layout choice is measured too.

    python -m candor_train.gen_ocr --out work/ocr_train.npz --count 120000 --seed 1
    python -m candor_train.gen_ocr --crops-dir work/synth_val_crops --count 2000 --seed 99
    python -m candor_train.gen_ocr --out work/ocr48_train.npz --height 48 --width 192 --channels 3 ...
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os

import cv2

import numpy as np

from . import synth
from .synth import add_layout_args, layout_of

def _chunk(args):
    seed, n, crops_dir, first, (h, w, channels) = args
    rng = np.random.default_rng(seed)
    # a crops folder gets the images themselves, so no laid-out array is kept
    xs = np.empty((0 if crops_dir else n, h, w) + ((3,) if channels == 3 else ()), np.uint8)
    labels, regions = [], []
    for i in range(n):
        crop, text, two_row, region = synth.render_crop(rng)
        if crops_dir:
            cv2.imwrite(os.path.join(crops_dir, f"{first + i:06d}.png"), crop[..., ::-1])
        else:
            xs[i] = np.clip(synth.recogniser_input(crop, h, w, two_row, channels), 0, 255).astype(np.uint8)
        labels.append(text)
        regions.append(region)
    return xs, labels, regions


def generate(count: int, seed: int, workers: int, crops_dir: str | None = None,
             layout: tuple[int, int, int] = (32, 128, 1)):
    """The same seed renders the same crops whether they are laid out or written as images, and
    in whichever input layout (height, width, channels) the recogniser takes."""
    chunk = 500
    jobs = [(seed * 1_000_003 + i, min(chunk, count - i * chunk), crops_dir, i * chunk, layout)
            for i in range((count + chunk - 1) // chunk)]
    with mp.Pool(workers) as pool:
        parts = pool.map(_chunk, jobs)
    xs = np.concatenate([p[0] for p in parts])
    labels = [t for p in parts for t in p[1]]
    regions = [r for p in parts for r in p[2]]
    return xs, labels, regions


def main():
    ap = argparse.ArgumentParser()
    out = ap.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", help=".npz of crops in the engine's input layout, for training")
    out.add_argument("--crops-dir", help="folder of crop images and labels.csv, for candor eval")
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    add_layout_args(ap)
    a = ap.parse_args()
    synth.require_fonts("gen_ocr")
    if a.crops_dir:
        os.makedirs(a.crops_dir, exist_ok=True)
    xs, labels, regions = generate(a.count, a.seed, a.workers, a.crops_dir, layout_of(a))
    if a.crops_dir:
        with open(os.path.join(a.crops_dir, "labels.csv"), "w") as f:
            f.write("file,plate,region\n")
            f.writelines(f"{i:06d}.png,{t},{r}\n" for i, (t, r) in enumerate(zip(labels, regions)))
        print(f"wrote {len(labels)} crop images to {a.crops_dir}")
        return
    # the region of each plate lets `recognizer check` score every region on its own
    np.savez_compressed(a.out, x=xs, y=np.array(labels), region=np.array(regions))
    print(f"wrote {len(labels)} crops to {a.out}")


if __name__ == "__main__":
    main()
