"""Cuts plate crops from the detection sets' splits and labels them with the
Apache-2.0 PP-OCRv4 models shipped in the PyPI package rapidocr-onnxruntime (a teacher).
Only confident, plate-shaped readings are kept; the model card reports how a hand-checked
sample of them fared.

    python -m candor_train.real_crops label --split train --out teacher_labels_train.csv
    python -m candor_train.real_crops pack --csv teacher_labels_train.csv --hand hand_labels.csv \
        --out work/real_train.npz --copies 8

The teacher's output for every split is committed beside hand_labels.csv, so `label` is only
needed to re-derive it. Only the train split's crops are trained on; the valid and test
splits' crops are the real check for choosing between recogniser candidates.
"""

from __future__ import annotations

import argparse
import csv
import os
import re

import cv2
import numpy as np

from . import detector as D
from .synth import add_layout_args, recogniser_input



def _box_px(box, w, h):
    cx, cy, bw, bh = box
    return (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h


def _crop(img, xyxy, mx, my):
    x0, y0, x1, y1 = xyxy
    bw, bh = x1 - x0, y1 - y0
    a = int(max(0, x0 - mx[0] * bw)), int(max(0, y0 - my[0] * bh))
    b = int(min(img.shape[1], x1 + mx[1] * bw)), int(min(img.shape[0], y1 + my[1] * bh))
    return img[a[1]:b[1], a[0]:b[0]]


def label(a):
    from rapidocr_onnxruntime import RapidOCR

    ocr = RapidOCR(intra_op_num_threads=a.threads, inter_op_num_threads=1)
    rows = []
    seen = kept = 0
    for _, path, k, xyxy, img in readable_boxes(a.split):
        seen += 1
        crop = _crop(img, xyxy, (0.03, 0.03), (0.05, 0.05))
        s = 96 / crop.shape[0]
        big = cv2.resize(crop, (int(crop.shape[1] * s), 96), interpolation=cv2.INTER_CUBIC)
        big = cv2.copyMakeBorder(big, 16, 16, 16, 16, cv2.BORDER_REPLICATE)
        res, _ = ocr(big)
        if not res:
            continue
        lines = []
        for quad, text, score in res:
            q = np.array(quad)
            t = re.sub("[^0-9A-Z]", "", text.upper())
            if t:
                lines.append((q[:, 1].max() - q[:, 1].min(), q[:, 1].mean(), t, float(score)))
        if not lines:
            continue
        lines.sort(key=lambda r: -r[0])
        main = lines[0]
        two_row = False
        text, score = main[2], main[3]
        aspect = crop.shape[1] / crop.shape[0]
        if aspect < 1.6 and len(lines) > 1 and lines[1][0] > 0.7 * main[0]:
            top, bot = sorted(lines[:2], key=lambda r: r[1])
            text, score, two_row = top[2] + bot[2], min(top[3], bot[3]), True
        if score < a.min_score or not (4 <= len(text) <= 8):
            continue
        kept += 1
        rows.append(_row(path, k, xyxy, text, int(two_row)) | {"score": f"{score:.3f}"})
    with open(a.out, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else ["image"])
        wr.writeheader()
        wr.writerows(rows)
    print(f"{a.split}: {seen} readable-size boxes, {kept} kept with a confident teacher reading -> {a.out}")


def _row(path, k, xyxy, text, two_row) -> dict:
    # image paths relative to the data folder, so that label files can be committed and
    # read on another machine
    return {"image": os.path.relpath(path, D.DATA_ROOT), "box": k,
            "x0": xyxy[0], "y0": xyxy[1], "x1": xyxy[2], "y1": xyxy[3], "text": text, "two_row": two_row}


def row_key(r) -> str:
    return f"{os.path.basename(r['image'])}:{r['box']}"


def readable_boxes(split: str):
    """Every plate box of a split big enough to read: (key, image path, box index, xyxy,
    the image as loaded, BGR)."""
    for path, plates, _ in D.read_split(split):
        img = cv2.imread(path)
        h, w = img.shape[:2]
        for k, box in enumerate(plates):
            xyxy = _box_px(box, w, h)
            if xyxy[3] - xyxy[1] >= 12 and xyxy[2] - xyxy[0] >= 28:
                yield f"{os.path.basename(path)}:{k}", path, k, xyxy, img


def read_hand(path: str) -> dict:
    """training/hand_labels.csv: "image-file-name:box,TEXT,two_row" per line; TEXT "-" drops."""
    fixes = {}
    for ln in open(path):
        if ln.strip() and not ln.startswith("#"):
            key, text, two_row = ln.strip().split(",")
            fixes[key] = (text, two_row)
    return fixes


def sheets(a):
    """Contact sheets of the readable boxes that neither the teacher nor the hand file has
    labelled yet, numbered, for labelling by eye; the keys go to index.txt in the same order.
    With --check-teacher the teacher's readings are drawn too, each beside its number, so that
    every one of them can be checked by eye before the hand file fixes or drops it."""
    teacher = {row_key(r): r["text"] for r in csv.DictReader(open(a.csv))}
    done = set(read_hand(a.hand)) | (set() if a.check_teacher else set(teacher))
    todo = [b[:4] for b in readable_boxes(a.split) if b[0] not in done]  # not the images: memory
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "index.txt"), "w") as f:
        f.writelines(f"{n},{key}\n" for n, (key, *_) in enumerate(todo))
    per = 24
    for s0 in range(0, len(todo), per):
        tiles = []
        for n in range(s0, s0 + per):
            tile = np.full((84, 300, 3), 255, np.uint8)
            if n < len(todo):
                _, path, _, xyxy = todo[n]
                crop = _crop(cv2.imread(path), xyxy, (0.05, 0.05), (0.1, 0.1))
                sc = min(64 / crop.shape[0], 296 / crop.shape[1])
                crop = cv2.resize(crop, (max(1, int(crop.shape[1] * sc)), max(1, int(crop.shape[0] * sc))),
                                  interpolation=cv2.INTER_CUBIC)
                tile[2:2 + crop.shape[0], 2:2 + crop.shape[1]] = crop
                caption = f"{n}  teacher: {teacher[todo[n][0]]}" if todo[n][0] in teacher else str(n)
                cv2.putText(tile, caption, (4, 82), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1)
            tiles.append(tile)
        rows = [np.concatenate(tiles[i:i + 4], 1) for i in range(0, per, 4)]
        cv2.imwrite(os.path.join(a.out, f"sheet_{s0 // per:03d}.png"), np.concatenate(rows, 0))
    what = "readable boxes not in the hand file" if a.check_teacher else "unlabelled readable boxes"
    print(f"{len(todo)} {what} -> {a.out}/sheet_*.png, keys in {a.out}/index.txt")


# crop margins (x, y; each side) of the plain copy of a box; the other copies jitter it
PLAIN_MARGINS = ((0.02, 0.02), (0.04, 0.04))


def labelled_rows(teacher_csv: str, hand: str | None, split: str) -> list[dict]:
    """The teacher's rows for a split, with the hand file's fixes and drops applied and its
    labels for the boxes the teacher could not read added."""
    rows = list(csv.DictReader(open(teacher_csv)))
    if not hand:
        return rows
    # every teacher label was checked by eye; the hand file fixes or drops the ones found
    # wrong and labels boxes the teacher could not read
    fixes = read_hand(hand)
    teacher_keys = {row_key(r) for r in rows}
    kept = []
    for r in rows:
        text, two_row = fixes.get(row_key(r), (r["text"], ""))
        if text == "-":
            continue
        r["text"] = text
        if two_row:
            r["two_row"] = two_row
        kept.append(r)
    print(f"hand check: {len(teacher_keys & set(fixes))} of {len(rows)} teacher labels fixed or dropped; "
          f"{len(kept)} kept")
    # boxes the teacher could not read, labelled by eye from the contact sheets
    by_hand = 0
    for key, path, k, xyxy, _ in readable_boxes(split):
        text, two_row = fixes.get(key, ("-", ""))
        if key not in teacher_keys and text != "-":
            kept.append(_row(path, k, xyxy, text, two_row or "0"))
            by_hand += 1
    print(f"hand labels for boxes the teacher did not read: {by_hand}")
    return kept


def _images(rows):
    """(row, image RGB, box) per row, reading each image once (rows come grouped by image)."""
    cache = {}
    for r in rows:
        if r["image"] not in cache:
            cache = {r["image"]: cv2.imread(os.path.join(D.DATA_ROOT, r["image"]))[..., ::-1]}
        yield r, cache[r["image"]], tuple(float(r[k]) for k in ("x0", "y0", "x1", "y1"))


def pack(a):
    rng = np.random.default_rng(a.seed)
    rows = labelled_rows(a.csv, a.hand, a.split)
    xs, ys = [], []
    for r, img, xyxy in _images(rows):
        for c in range(a.copies):
            if c == 0:
                mx, my = PLAIN_MARGINS
            else:  # detector-like jitter of the box
                mx, my = rng.uniform(-0.03, 0.1, 2), rng.uniform(-0.05, 0.15, 2)
            crop = _crop(img, xyxy, mx, my)
            if crop.shape[0] < 4 or crop.shape[1] < 8:
                continue
            xs.append(np.clip(recogniser_input(crop, a.height, a.width, r["two_row"] == "1", a.channels), 0, 255).astype(np.uint8))
            ys.append(r["text"])
    np.savez_compressed(a.out, x=np.stack(xs), y=np.array(ys))
    print(f"packed {len(ys)} crops from {len(rows)} plates -> {a.out}")


def crops(a):
    """The labelled crops as a folder `candor eval` reads (PNG files and labels.csv), so the
    engine, not only the exported graph, can be measured on real crops."""
    os.makedirs(a.out, exist_ok=True)
    rows = labelled_rows(a.csv, a.hand, a.split)
    # --margin: the same margin on every side, to check tighter framings than the plain one
    margins = PLAIN_MARGINS if a.margin is None else ((a.margin[0],) * 2, (a.margin[1],) * 2)
    with open(os.path.join(a.out, "labels.csv"), "w") as f:
        f.write("file,plate,region\n")
        for i, (r, img, xyxy) in enumerate(_images(rows)):
            name = f"{i:03d}.png"
            cv2.imwrite(os.path.join(a.out, name), _crop(img, xyxy, *margins)[..., ::-1])
            f.write(f"{name},{r['text']},\n")
    print(f"wrote {len(rows)} crops -> {a.out}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    l = sub.add_parser("label")
    l.add_argument("--split", default="train")
    l.add_argument("--out", required=True)
    l.add_argument("--min-score", type=float, default=0.9)
    l.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("pack")
    p.add_argument("--csv", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--copies", type=int, default=6)
    p.add_argument("--hand", help="hand-checked label fixes (training/hand_labels.csv)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--split", default="train")
    add_layout_args(p)
    s = sub.add_parser("sheets", help="contact sheets of unlabelled boxes, for labelling by eye")
    s.add_argument("--csv", required=True, help="the teacher's labels (real_crops label)")
    s.add_argument("--hand", required=True)
    s.add_argument("--split", default="train")
    s.add_argument("--out", required=True)
    s.add_argument("--check-teacher", action="store_true",
                   help="also draw the boxes the teacher read, with its reading, for checking by eye")
    c = sub.add_parser("crops", help="write the labelled crops as a folder for candor eval")
    c.add_argument("--csv", required=True)
    c.add_argument("--hand", required=True)
    c.add_argument("--split", default="valid")
    c.add_argument("--out", required=True)
    c.add_argument("--margin", type=float, nargs=2, metavar=("X", "Y"),
                   help="margin on each side as a fraction of the box's width and height; "
                        "negative cuts inside the labelled box (default: the plain 2 %% / 4 %%)")
    a = ap.parse_args()
    {"label": label, "pack": pack, "sheets": sheets, "crops": crops}[a.cmd](a)


if __name__ == "__main__":
    main()
