"""Chooses the detector's thresholds on the detection sets' valid splits, through the engine.

    python -m candor_train.band_sweep --onnx ../models/plate_detector.onnx [--json out.json]

For every combination of `score_threshold`, `confirm_threshold` and `confirm_confidence` in
the grid (plus each score threshold with no confirm band) it writes a models folder (the
shipped manifest with those values, the given detector and the shipped recogniser), runs
`candor eval --json` on both valid splits and prints recall, precision and F1 over the two
together. The test splits are never read here.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import tempfile

from .detector import DATA_ROOT

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
VALID = [os.path.join(DATA_ROOT, "detect", s, "valid") for s in ("openimages-plates", "experiment-plates")]


def manifest(base: str, score: float, confirm: float | None, confidence: float | None) -> str:
    lines = [line for line in base.splitlines() if not line.startswith("confirm_")]
    text = re.sub(r"score_threshold = [0-9.]+", f"score_threshold = {score}", "\n".join(lines) + "\n")
    if confirm is not None:
        text = re.sub(
            r"(nms_iou = [0-9.]+)",
            rf"\1\nconfirm_threshold = {confirm}\nconfirm_confidence = {confidence}",
            text,
        )
    return text


def measure(candor: str, models: str) -> tuple[int, int, int]:
    """True positives, false positives and false negatives over the valid splits."""
    out = subprocess.run(
        [candor, "eval", "--json", "--models", models, *VALID], capture_output=True, text=True, check=True
    ).stdout
    counts = [json.loads(line)["detection_counts"] for line in out.strip().splitlines()]
    tp = sum(c["found"] for c in counts)
    fp = sum(c["false_boxes"] for c in counts)
    fn = sum(c["labelled"] - c["found"] for c in counts)
    return tp, fp, fn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", required=True, help="detector to measure")
    ap.add_argument("--candor", default=os.path.join(REPO, "target/debug/candor"))
    ap.add_argument("--scores", nargs="+", type=float, default=[0.8, 0.85, 0.9])
    ap.add_argument("--confirms", nargs="+", type=float, default=[0.3, 0.4, 0.5, 0.6])
    ap.add_argument("--confidences", nargs="+", type=float, default=[0.5, 0.7, 0.8, 0.9])
    ap.add_argument("--json", help="write every row here")
    args = ap.parse_args()
    base = open(os.path.join(REPO, "models/manifest.toml")).read()
    grid = [(s, None, None) for s in args.scores]
    grid += list(itertools.product(args.scores, args.confirms, args.confidences))
    rows = []
    with tempfile.TemporaryDirectory() as models:
        os.symlink(os.path.abspath(args.onnx), os.path.join(models, "plate_detector.onnx"))
        os.symlink(os.path.join(REPO, "models/plate_recognizer.onnx"), os.path.join(models, "plate_recognizer.onnx"))
        for score, confirm, confidence in grid:
            with open(os.path.join(models, "manifest.toml"), "w") as f:
                f.write(manifest(base, score, confirm, confidence))
            tp, fp, fn = measure(args.candor, models)
            recall, precision = tp / (tp + fn), tp / max(tp + fp, 1)
            f1 = 2 * recall * precision / max(recall + precision, 1e-9)
            rows.append(dict(score_threshold=score, confirm_threshold=confirm, confirm_confidence=confidence,
                             tp=tp, fp=fp, fn=fn, recall=recall, precision=precision, f1=f1))
            band = "no band" if confirm is None else f"band {confirm}, confidence {confidence}"
            print(f"score {score}, {band}: recall {recall:.1%} precision {precision:.1%} F1 {f1:.4f} "
                  f"(tp {tp} fp {fp} fn {fn})", flush=True)
    best = max(rows, key=lambda r: r["f1"])
    print(f"best valid F1 {best['f1']:.4f}: score_threshold {best['score_threshold']}, "
          f"confirm_threshold {best['confirm_threshold']}, confirm_confidence {best['confirm_confidence']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
