"""Measures the exported ONNX models with onnxruntime, the way the engine uses them.

    python -m candor_train.evaluate --models ../models --data ../../shared/data [--json out.json]

Recogniser: exact-plate accuracy on every ocr-eval set (evaluation only: measured, never
trained, tuned or used to pick checkpoints). Crops narrower than two_row_aspect_below are also
read as two-row (top half | bottom half) and the more confident reading is kept.
Detector: recall and precision at IoU 0.5 on the test split of each detection set, at the
manifest's score threshold and NMS IoU, letterboxed as the engine does. This is the detector
alone: the engine's confirm band (boxes below the threshold kept where plate text is read)
needs the recogniser and the engine's ranking, so `candor eval` measures it.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import time
import tomllib

import cv2
import numpy as np
import onnxruntime as ort

from . import detector as D
from .synth import recogniser_input


def session(path, threads=1):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def ctc_read(logits, alphabet):
    """Greedy CTC decode -> (text, confidence = mean max-probability over all steps)."""
    p = softmax(logits)
    best = p.argmax(-1)
    out, prev = [], 0
    for k in best:
        if k != prev and k != 0:
            out.append(alphabet[k - 1])
        prev = k
    return "".join(out), float(p.max(-1).mean())


def read_plate(sess, cfg, img_rgb):
    h, w = cfg["input_height"], cfg["input_width"]
    mean, std = cfg["mean"], cfg["std"]
    views = [recogniser_input(img_rgb, h, w, False)]
    if img_rgb.shape[1] / img_rgb.shape[0] < cfg["two_row_aspect_below"]:
        views.append(recogniser_input(img_rgb, h, w, True))
    x = ((np.stack(views)[:, None] / 255.0 - mean) / std).astype(np.float32)
    logits = sess.run([cfg["output"]], {cfg["input"]: x})[0]
    reads = [ctc_read(lg, cfg["alphabet"]) for lg in logits]
    return max(reads, key=lambda r: r[1])[0]


def eval_recognizer(models_dir, cfg, data_root, limit=None):
    sess = session(os.path.join(models_dir, cfg["file"]))
    results = {}
    for d in sorted(glob.glob(os.path.join(data_root, "ocr-eval", "*"))):
        labels = os.path.join(d, "labels.csv")
        if not os.path.exists(labels):
            continue
        rows = list(csv.DictReader(open(labels)))[:limit]
        ok = 0
        for r in rows:
            img = cv2.imread(os.path.join(d, "images", r["file"]))
            if img is None:
                raise FileNotFoundError(os.path.join(d, "images", r["file"]))
            ok += read_plate(sess, cfg, img[..., ::-1]) == r["plate"]
        results[os.path.basename(d)] = {"exact": ok / max(len(rows), 1), "n": len(rows)}
    return results


def eval_detector(models_dir, cfg, data_root):
    sess = session(os.path.join(models_dir, cfg["file"]))

    def run(x):
        return sess.run([cfg["output"]], {cfg["input"]: x})[0]

    D.DATA_ROOT = data_root
    results = {}
    for s in D.SETS:
        D_sets, D.SETS = D.SETS, [s]
        items = D.read_split("test")
        D.SETS = D_sets
        r, p, tp, npred, ngt = D.evaluate_items(run, items, cfg["score_threshold"], cfg["nms_iou"],
                                                cfg["input_width"])
        results[s] = {"recall": r, "precision": p, "tp": tp, "pred": npred, "gt": ngt}
    return results


def speed(models_dir, manifest):
    out = {}
    for key, shape in (("detector", (1, 3, manifest["detector"]["input_height"], manifest["detector"]["input_width"])),
                       ("recognizer", (1, manifest["recognizer"]["channels"], manifest["recognizer"]["input_height"],
                                       manifest["recognizer"]["input_width"]))):
        cfg = manifest[key]
        s = session(os.path.join(models_dir, cfg["file"]))
        x = np.random.rand(*shape).astype(np.float32)
        for _ in range(5):
            s.run(None, {cfg["input"]: x})
        n = 50
        t = time.perf_counter()
        for _ in range(n):
            s.run(None, {cfg["input"]: x})
        out[key] = {"ms_per_image_1_thread": (time.perf_counter() - t) / n * 1000,
                    "file_mb": os.path.getsize(os.path.join(models_dir, cfg["file"])) / 1e6}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.join(os.path.dirname(__file__), "../../models"))
    ap.add_argument("--data", default=D.DATA_ROOT)
    ap.add_argument("--json")
    ap.add_argument("--limit", type=int, help="only the first N crops of each ocr-eval set")
    a = ap.parse_args()
    manifest = tomllib.load(open(os.path.join(a.models, "manifest.toml"), "rb"))
    res = {
        "recognizer": eval_recognizer(a.models, manifest["recognizer"], a.data, a.limit),
        "detector": eval_detector(a.models, manifest["detector"], a.data),
        "speed": speed(a.models, manifest),
    }
    print(json.dumps(res, indent=2))
    if a.json:
        json.dump(res, open(a.json, "w"), indent=2)


if __name__ == "__main__":
    main()
