"""Single-class plate detector: a small stride-8 anchor-free network with box decoding inside
the graph (Sigmoid, Mul, Add only), trained on the two permissive detection sets plus synthetic
composites (rendered plates pasted over real plate boxes and elsewhere on vehicles).

Train:  python -m candor_train.detector train --ckpt work/det.pt --minutes 40 --seed 1
Export: python -m candor_train.detector export --ckpt work/det.pt --out ../models/plate_detector.onnx
"""

from __future__ import annotations

import argparse
import glob
import itertools
import math
import os
import time

import cv2
import numpy as np
import torch
from torch import nn

from . import synth
from .common import (conv_bn, fold_batchnorm, init_from_onnx, load_checkpoint, pick_device, save_checkpoint,
                     seed_everything, simplify_graph, warn_if_bf16_emulated)

SIZE = 384
STRIDE = 8
PAD = 0.5
# Box size priors (canvas pixels): w = (2*sigmoid)^2 * ANCHOR_W, so up to 4x the prior; close-up
# photos have plates as large as the whole canvas.
ANCHOR_W, ANCHOR_H = 96.0, 96.0
LARGE_STRIDE = 32
LARGE_ANCHOR_W, LARGE_ANCHOR_H = 128.0, 128.0
# Boxes whose longer side is at most SMALL_MAX go to the stride-8 head, at least LARGE_MIN to the
# stride-32 head (both in between).
SMALL_MAX, LARGE_MIN = 128.0, 72.0
DATA_ROOT = os.environ.get("CANDOR_DATA", os.path.join(os.path.dirname(__file__), "../../../shared/data"))
SETS = ["openimages-plates", "experiment-plates"]


def set_size(size: int) -> None:
    """Sets the square canvas (training, letterbox and export) for this process."""
    global SIZE
    if size % LARGE_STRIDE or not 256 <= size <= 1024:
        raise ValueError(f"--size {size}: must be a multiple of {LARGE_STRIDE} between 256 and 1024")
    SIZE = size


class Detector(nn.Module):
    def __init__(self, size=None):
        super().__init__()
        size = size or SIZE
        self.stem = nn.Sequential(conv_bn(3, 16, s=2), conv_bn(16, 24, s=2))  # /4
        self.c3 = nn.Sequential(conv_bn(24, 48, s=2), conv_bn(48, 48))  # /8
        self.c4 = nn.Sequential(conv_bn(48, 96, s=2), conv_bn(96, 96))  # /16
        self.c5 = nn.Sequential(conv_bn(96, 128, s=2), conv_bn(128, 128))  # /32
        self.lat5 = conv_bn(128, 96, k=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.p4 = conv_bn(96, 64)
        self.lat4 = conv_bn(64, 48, k=1)
        self.p3 = nn.Sequential(conv_bn(96, 64), conv_bn(64, 64))
        self.head = nn.Conv2d(64, 5, 1)
        # a coarse head for close-up plates: at stride 8 a plate filling the frame covers dozens
        # of near-identical cells, only three of them positive
        self.head32 = nn.Sequential(conv_bn(128, 96), nn.Conv2d(96, 5, 1))
        for name, (stride, anchor_w, anchor_h) in (("", (STRIDE, ANCHOR_W, ANCHOR_H)),
                                                   ("32", (LARGE_STRIDE, LARGE_ANCHOR_W, LARGE_ANCHOR_H))):
            A, B, C = decode_constants(size // stride, stride, anchor_w, anchor_h)
            self.register_buffer("A" + name, A)
            self.register_buffer("B" + name, B)
            self.register_buffer("C" + name, C)
        with torch.no_grad():
            for conv in (self.head, self.head32[-1]):
                conv.bias.zero_()
                conv.bias[4] = -4.0  # start with low objectness

    def raw(self, x):
        x = self.stem(x)
        c3 = self.c3(x)
        c4 = self.c4(c3)
        c5 = self.c5(c4)
        p4 = self.p4(self.up(self.lat5(c5)) + c4)
        p3 = self.p3(torch.cat([self.up(self.lat4(p4)), c3], 1))
        return self.head(p3), self.head32(c5)  # raw [N,5,S/8,S/8], [N,5,S/32,S/32]

    def decode(self, raw, large=False):
        s = torch.sigmoid(raw)
        if large:
            return s * self.A32 + s * s * self.B32 + self.C32
        return s * self.A + s * s * self.B + self.C

    def forward(self, x):
        r8, r32 = self.raw(x)
        d = torch.cat([self.decode(r8).flatten(2), self.decode(r32, True).flatten(2)], 2)
        return d.permute(0, 2, 1)  # [N,K,5], K = (S/8)^2 + (S/32)^2


def decode_constants(g, stride, anchor_w, anchor_h):
    """out = s*A + s^2*B + C per channel (cx, cy, w, h, score): box decoding with elementwise ops
    only. cx = (2 s - 0.5 + col) * stride, w = (2 s)^2 * anchor_w, score = s."""
    gy, gx = torch.meshgrid(torch.arange(g, dtype=torch.float32), torch.arange(g, dtype=torch.float32),
                            indexing="ij")
    A = torch.zeros(1, 5, g, g)
    B = torch.zeros(1, 5, g, g)
    C = torch.zeros(1, 5, g, g)
    A[0, 0] = 2 * stride
    A[0, 1] = 2 * stride
    C[0, 0] = (gx - 0.5) * stride
    C[0, 1] = (gy - 0.5) * stride
    B[0, 2] = 4 * anchor_w
    B[0, 3] = 4 * anchor_h
    A[0, 4] = 1.0
    return A, B, C


# ---------------------------------------------------------------- data


def read_split(split: str):
    items = []
    for s in SETS:
        for img in sorted(glob.glob(os.path.join(DATA_ROOT, "detect", s, split, "images", "*"))):
            stem = os.path.splitext(os.path.basename(img))[0]
            lab = os.path.join(DATA_ROOT, "detect", s, split, "labels", stem + ".txt")
            plates, vehicles = [], []
            if os.path.exists(lab):
                for line in open(lab):
                    p = line.split()
                    if len(p) < 5:
                        continue
                    c, vals = int(p[0]), [float(v) for v in p[1:]]
                    if len(vals) == 4:
                        box = vals
                    else:  # polygon (x y pairs): use its bounding box
                        xs, ys = vals[0::2], vals[1::2]
                        box = [(min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs),
                               max(ys) - min(ys)]
                    (plates if c == 0 else vehicles).append(box)
            items.append((img, np.array(plates, np.float32).reshape(-1, 4),
                          np.array(vehicles, np.float32).reshape(-1, 4)))
    return items


def letterbox(img: np.ndarray, size=None):
    """The engine's letterbox: scale to fit, keep aspect, place at top-left, grey pad."""
    size = size or SIZE
    h, w = img.shape[:2]
    s = min(size / w, size / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    canvas = np.full((size, size, 3), int(PAD * 255), np.uint8)
    canvas[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return canvas, s


def paste_plate(img: np.ndarray, box_xyxy, rng) -> None:
    """Renders a plate and warps it into the box (in place), slightly inset with perspective."""
    x0, y0, x1, y1 = box_xyxy
    bw, bh = x1 - x0, y1 - y0
    if bw < 6 or bh < 3:
        return
    plate = synth.render_flat(rng)
    flat = synth.degrade_flat(plate, rng)
    ph, pw = flat.shape[:2]
    j = rng.uniform(0, 0.06, size=(4, 2)) * np.float32([bw, bh])
    dst = (np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
           + j * np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]])).astype(np.float32)
    M = cv2.getPerspectiveTransform(np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]]), dst)
    # pre-shrink the plate to about the box size so warping does not alias
    s = max(bw / pw, bh / ph)
    if s < 0.5:
        flat = cv2.resize(flat, (max(2, int(pw * s * 1.5)), max(2, int(ph * s * 1.5))), interpolation=cv2.INTER_AREA)
        M = cv2.getPerspectiveTransform(np.float32([[0, 0], [flat.shape[1], 0], [flat.shape[1], flat.shape[0]],
                                                    [0, flat.shape[0]]]), dst)
    shade = rng.uniform(0.6, 1.1)
    flat = np.clip(flat.astype(np.float32) * shade, 0, 255).astype(np.uint8)
    cv2.warpPerspective(flat, M, (img.shape[1], img.shape[0]), dst=img, flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_TRANSPARENT)


def composite(item, rng, synth_prob):
    """Loads one photo, optionally replaces plates by rendered ones and adds plates on vehicles.
    Returns RGB image and plate boxes xyxy in its pixels."""
    path, plates, vehicles = item
    img = cv2.imread(path)[..., ::-1].copy()
    h, w = img.shape[:2]
    boxes = [[(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h] for cx, cy, bw, bh in plates]
    if rng.random() < synth_prob:
        for b in boxes:
            if rng.random() < 0.5:
                paste_plate(img, b, rng)
        # extra plates on vehicles (lower middle of a vehicle box), or near the existing plate's scale
        n_extra = int(rng.integers(1, 3))
        for _ in range(n_extra):
            if len(vehicles) and rng.random() < 0.7:
                cx, cy, vw, vh = vehicles[rng.integers(len(vehicles))]
                pw = vw * w * rng.uniform(0.15, 0.3)
                px = (cx + rng.uniform(-0.25, 0.25) * vw) * w
                py = (cy + rng.uniform(0.05, 0.35) * vh) * h
            else:
                ref = (boxes[rng.integers(len(boxes))][2] - boxes[rng.integers(len(boxes))][0]) if boxes else w * 0.2
                pw = float(np.clip(ref * rng.uniform(0.6, 1.2), 12, w * 0.5))
                px, py = rng.uniform(pw / 2, w - pw / 2), rng.uniform(h * 0.2, h * 0.95)
            ph = pw / rng.uniform(1.8, 4.5)
            nb = [px - pw / 2, py - ph / 2, px + pw / 2, py + ph / 2]
            if nb[0] < 0 or nb[1] < 0 or nb[2] > w or nb[3] > h:
                continue
            if any(iou_xyxy(nb, b) > 0 or overlap(nb, b) for b in boxes):
                continue
            paste_plate(img, nb, rng)
            boxes.append(nb)
    return img, np.array(boxes, np.float32).reshape(-1, 4)


def overlap(a, b):
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])


def iou_xyxy(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / u if u > 0 else 0.0


def make_sample(items, rng, synth_prob=0.5, small_grid_prob=0.0):
    """One training canvas: a single photo at a random scale and position, a 2x2 mosaic with
    smaller plates (as in wide traffic frames), or a 3x3 grid of small photos whose plates are
    10-30 px wide, the size most missed on the valid split. Returns canvas (uint8 RGB) and boxes
    xyxy."""
    canvas = np.full((SIZE, SIZE, 3), int(PAD * 255), np.uint8)
    out_boxes = []
    r = rng.random()
    grid3 = r < small_grid_prob
    mosaic = not grid3 and r < small_grid_prob + 0.5 * (1 - small_grid_prob)
    tiles = 9 if grid3 else 4 if mosaic else 1
    cxs = rng.uniform(0.3, 0.7) * SIZE
    cys = rng.uniform(0.3, 0.7) * SIZE
    for t in range(tiles):
        img, boxes = composite(items[rng.integers(len(items))], rng, synth_prob)
        if rng.random() < 0.5:
            img = img[:, ::-1].copy()
            boxes = boxes.copy()
            boxes[:, [0, 2]] = img.shape[1] - boxes[:, [2, 0]]
        h, w = img.shape[:2]
        if rng.random() < 0.3:  # engine sees 16:9 frames: emulate wide aspect by cropping height
            nh = int(h * rng.uniform(0.55, 0.8))
            y0 = int(rng.integers(0, h - nh + 1))
            img = img[y0:y0 + nh]
            boxes = boxes.copy()
            boxes[:, [1, 3]] -= y0
            h = nh
        if grid3:
            s = rng.uniform(0.18, 0.33) * SIZE / max(h, w)
        elif mosaic:
            s = rng.uniform(0.25, 0.6) * SIZE / max(h, w)
        else:
            s = rng.uniform(0.35, 1.0) * SIZE / max(h, w)
        nw, nh = max(2, int(w * s)), max(2, int(h * s))
        im = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
        if grid3:
            cell = SIZE // 3
            ox = (t % 3) * cell + int(rng.integers(0, max(1, cell - nw + 1)))
            oy = (t // 3) * cell + int(rng.integers(0, max(1, cell - nh + 1)))
        elif mosaic:
            qx, qy = t % 2, t // 2
            ox = int(cxs - nw) if qx == 0 else int(cxs)
            oy = int(cys - nh) if qy == 0 else int(cys)
        else:
            ox = 0 if rng.random() < 0.4 else int(rng.integers(0, SIZE - nw + 1))
            oy = 0 if rng.random() < 0.4 else int(rng.integers(0, SIZE - nh + 1))
        # paste with clipping
        x0, y0 = max(ox, 0), max(oy, 0)
        x1, y1 = min(ox + nw, SIZE), min(oy + nh, SIZE)
        if x1 <= x0 or y1 <= y0:
            continue
        canvas[y0:y1, x0:x1] = im[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
        for b in boxes:
            bb = np.array([b[0] * s + ox, b[1] * s + oy, b[2] * s + ox, b[3] * s + oy])
            area = (bb[2] - bb[0]) * (bb[3] - bb[1])
            cb = np.array([max(bb[0], x0), max(bb[1], y0), min(bb[2], x1), min(bb[3], y1)])
            if cb[2] - cb[0] < 2 or cb[3] - cb[1] < 2:
                continue
            if (cb[2] - cb[0]) * (cb[3] - cb[1]) < 0.6 * area:
                continue  # mostly cut off: drop (and accept a little label noise)
            out_boxes.append(cb)
    canvas = photometric_scene(canvas, rng)
    return canvas, np.array(out_boxes, np.float32).reshape(-1, 4)


def photometric_scene(img, rng):
    f = img.astype(np.float32)
    if rng.random() < 0.15:
        f = np.repeat(f.mean(2, keepdims=True), 3, 2)
    f = (f - 128) * rng.uniform(0.6, 1.3) + 128 + rng.uniform(-40, 40)
    f *= rng.uniform(0.85, 1.15, size=(1, 1, 3))
    if rng.random() < 0.3:
        f += rng.normal(0, rng.uniform(2, 10), size=f.shape)
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    return out


class TrainSet(torch.utils.data.IterableDataset):
    def __init__(self, items, seed, synth_prob, small_grid_prob=0.0):
        self.items, self.seed, self.synth_prob, self.small_grid_prob = items, seed, synth_prob, small_grid_prob

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng(self.seed + (info.id if info else 0) * 7919)
        while True:
            img, boxes = make_sample(self.items, rng, self.synth_prob, self.small_grid_prob)
            yield torch.from_numpy(img).permute(2, 0, 1).float() / 255.0, torch.from_numpy(boxes)


def collate(batch):
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]


# ---------------------------------------------------------------- loss


def giou(a, b):
    """a, b: [M,4] cx,cy,w,h -> GIoU [M]."""
    ax0, ay0, ax1, ay1 = a[:, 0] - a[:, 2] / 2, a[:, 1] - a[:, 3] / 2, a[:, 0] + a[:, 2] / 2, a[:, 1] + a[:, 3] / 2
    bx0, by0, bx1, by1 = b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
    iw = (torch.min(ax1, bx1) - torch.max(ax0, bx0)).clamp(min=0)
    ih = (torch.min(ay1, by1) - torch.max(ay0, by0)).clamp(min=0)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter + 1e-7
    iou = inter / union
    cw = torch.max(ax1, bx1) - torch.min(ax0, bx0)
    ch = torch.max(ay1, by1) - torch.min(ay0, by0)
    carea = cw * ch + 1e-7
    return iou - (carea - union) / carea, iou


def build_targets(boxes_list, g, stride=STRIDE, max_w=4 * ANCHOR_W, max_h=4 * ANCHOR_H, size_range=(0.0, 1e9)):
    """YOLOv5-style assignment: the centre cell plus the two nearest neighbour cells, for boxes
    whose longer side lies in size_range."""
    bi, gj, gi, tb = [], [], [], []
    for n, boxes in enumerate(boxes_list):
        for x0, y0, x1, y1 in boxes.tolist():
            cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
            if not size_range[0] <= max(w, h) <= size_range[1]:
                continue
            w, h = min(w, max_w * 0.98), min(h, max_h * 0.98)
            fx, fy = cx / stride, cy / stride
            i, j = int(fx), int(fy)
            cells = [(i, j)]
            cells.append((i - 1, j) if fx - i < 0.5 else (i + 1, j))
            cells.append((i, j - 1) if fy - j < 0.5 else (i, j + 1))
            for ci, cj in cells:
                if 0 <= ci < g and 0 <= cj < g:
                    bi.append(n)
                    gi.append(ci)
                    gj.append(cj)
                    tb.append([cx, cy, w, h])
    return (torch.tensor(bi, dtype=torch.long), torch.tensor(gj, dtype=torch.long),
            torch.tensor(gi, dtype=torch.long), torch.tensor(tb, dtype=torch.float32).reshape(-1, 4))


def detection_loss(model, raws, boxes_list):
    r8, r32 = raws
    heads = (
        (r8, False, dict(stride=STRIDE, max_w=4 * ANCHOR_W, max_h=4 * ANCHOR_H, size_range=(0.0, SMALL_MAX))),
        (r32, True, dict(stride=LARGE_STRIDE, max_w=4 * LARGE_ANCHOR_W, max_h=4 * LARGE_ANCHOR_H,
                         size_range=(LARGE_MIN, 1e9))),
    )
    box_terms, obj_loss = [], 0.0
    for raw, large, kw in heads:
        dec = model.decode(raw, large)
        bi, gj, gi, tb = (t.to(raw.device) for t in build_targets(boxes_list, raw.shape[-1], **kw))
        obj_t = torch.zeros_like(raw[:, 4])
        if len(bi):
            g_, _ = giou(dec[bi, :4, gj, gi], tb)
            box_terms.append(1 - g_)
            obj_t[bi, gj, gi] = 1.0
        obj_loss = obj_loss + nn.functional.binary_cross_entropy_with_logits(
            raw[:, 4], obj_t, pos_weight=torch.tensor(2.0, device=raw.device))
    box_loss = torch.cat(box_terms).mean() if box_terms else r8.sum() * 0
    return box_loss + 20.0 * obj_loss, box_loss.detach(), obj_loss.detach()


# ---------------------------------------------------------------- evaluation


def nms(boxes, scores, thr):
    order = np.argsort(-scores)
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        rest = order[1:]
        ious = np.array([iou_xyxy(boxes[i], boxes[j]) for j in rest])
        order = rest[ious <= thr] if len(rest) else rest
    return keep


def detections(out, scale, score_thr, nms_iou):
    """out: [K,5] canvas cx,cy,w,h,score -> list of (xyxy in image pixels, score)."""
    m = out[:, 4] >= score_thr
    o = out[m]
    if not len(o):
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    b = np.stack([o[:, 0] - o[:, 2] / 2, o[:, 1] - o[:, 3] / 2, o[:, 0] + o[:, 2] / 2, o[:, 1] + o[:, 3] / 2], 1)
    keep = nms(b, o[:, 4], nms_iou)
    return b[keep] / scale, o[keep, 4]


def match(pred, gt, thr=0.5):
    """Greedy one-to-one matching at IoU thr -> (true positives, predictions, ground truths)."""
    used = set()
    tp = 0
    for p in pred:
        best, bj = 0.0, -1
        for j, g in enumerate(gt):
            if j in used:
                continue
            v = iou_xyxy(p, g)
            if v > best:
                best, bj = v, j
        if best >= thr:
            used.add(bj)
            tp += 1
    return tp, len(pred), len(gt)


def evaluate_items(run, items, score_thr=0.35, nms_iou=0.45, size=None):
    """run: canvas batch [1,3,S,S] float -> [1,K,5] numpy. Returns recall, precision, counts."""
    TP = P = G = 0
    for path, plates, _ in items:
        img = cv2.imread(path)[..., ::-1]
        h, w = img.shape[:2]
        canvas, s = letterbox(img, size)
        out = run(canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)[0]
        pred, _ = detections(out, s, score_thr, nms_iou)
        gt = [[(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h] for cx, cy, bw, bh in plates]
        tp, p, g = match(pred, gt)
        TP, P, G = TP + tp, P + p, G + g
    return TP / max(G, 1), TP / max(P, 1), TP, P, G


def torch_runner(model):
    device = next(model.parameters()).device

    def run(x):
        with torch.no_grad():
            return model(torch.from_numpy(x).to(device)).cpu().numpy()
    return run


# ---------------------------------------------------------------- commands


def train(a):
    synth.require_fonts("detector train")  # composites paste rendered plates
    set_size(a.size)
    torch.set_num_threads(a.threads)
    seed_everything(a.seed)
    device = pick_device(a.device)
    if a.bf16 and device.type == "cpu":
        warn_if_bf16_emulated()
    items = read_split("train")
    val = read_split("valid")
    model = Detector()
    state = load_checkpoint(a.ckpt)
    step, best, elapsed = 0, -1.0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        step, best, elapsed = state["step"], state["best"], state["elapsed"]
        print(f"resumed at step {step}, {elapsed / 60:.1f} min, best val F1 {best:.4f}")
    elif a.init:
        # warm start from another run's weights; the decode constants stay this model's own
        weights = {k: v for k, v in load_checkpoint(a.init)["model"].items() if not k[0] in "ABC"}
        model.load_state_dict(weights, strict=False)
        print(f"initialised from {a.init}")
    elif a.init_onnx:
        # continue training a shipped model whose checkpoint is gone
        calibration = collate(list(itertools.islice(TrainSet(items, a.seed, a.synth_prob), 32)))[0]
        init_from_onnx(model, a.init_onnx, calibration)
        print(f"initialised from {a.init_onnx}")
    # weights are loaded on the CPU, then moved; the optimiser is made for the moved weights
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=5e-4)
    if state is not None:
        opt.load_state_dict(state["opt"])
    print(f"training on {device}")
    ds = TrainSet(items, a.seed * 1000 + step, a.synth_prob, a.small_grid_prob)
    dl = torch.utils.data.DataLoader(ds, batch_size=a.batch, num_workers=a.workers, collate_fn=collate)
    budget = a.minutes * 60
    t0 = time.time() - elapsed
    last_eval = time.time()
    for x, boxes in dl:
        if time.time() - t0 >= budget:
            break
        model.train()
        frac = min(1.0, (time.time() - t0) / budget)
        lr = a.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
        if step < 200:
            lr *= (step + 1) / 200
        for pg in opt.param_groups:
            pg["lr"] = lr
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.bf16):
            raws = model.raw(x.to(device))
        loss, bl, ol = detection_loss(model, [r.float() for r in raws], boxes)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        step += 1
        if step % 20 == 0:
            print(f"step {step} loss {loss.item():.4f} box {bl:.4f} obj {ol:.5f} lr {lr:.5f} "
                  f"{(time.time() - t0) / 60:.1f} min", flush=True)
        if time.time() - last_eval > a.eval_every:
            best = _validate(model, opt, val, a, step, best, t0)
            last_eval = time.time()
    best = _validate(model, opt, val, a, step, best, t0)
    print(f"done: {step} steps, best valid F1 {best:.4f}")


def _validate(model, opt, val, a, step, best, t0):
    model.eval()
    r, p, tp, np_, ng = evaluate_items(torch_runner(model), val)
    f1 = 2 * r * p / max(r + p, 1e-9)
    print(f"step {step} valid recall {r:.4f} precision {p:.4f} F1 {f1:.4f} ({tp}/{ng} gt, {np_} pred)", flush=True)
    if f1 > best:
        best = f1
        save_checkpoint(a.ckpt + ".best", model=model.state_dict(), step=step, val=f1, size=SIZE)
    save_checkpoint(a.ckpt, model=model.state_dict(), opt=opt.state_dict(), step=step, best=best,
                    elapsed=time.time() - t0, size=SIZE)
    return best


def export(a):
    state = load_checkpoint(a.ckpt)
    set_size(state.get("size", SIZE))  # the decode constants are built for the trained canvas
    model = Detector()
    model.load_state_dict(state["model"])
    model.eval()
    fold_batchnorm(model)
    dummy = torch.zeros(2, 3, SIZE, SIZE)
    torch.onnx.export(model, dummy, a.out, input_names=["images"], output_names=["boxes"],
                      dynamic_axes={"images": {0: "N"}, "boxes": {0: "N"}}, opset_version=17, dynamo=False)
    simplify_graph(a.out)
    import onnxruntime as ort

    sess = ort.InferenceSession(a.out, providers=["CPUExecutionProvider"])
    x = torch.rand(3, 3, SIZE, SIZE)
    ref = model(x).detach().numpy()
    got = sess.run(["boxes"], {"images": x.numpy()})[0]
    err = float(np.abs(ref - got).max())
    print(f"exported {a.out} (step {state.get('step')}); output {got.shape}; max |torch-onnx| = {err:.2e}")
    assert err < 1e-2, "ONNX output differs from torch"


def threshold(a):
    """Prints recall/precision on the detection sets' valid split (never the test split) for a
    range of score thresholds, to choose the manifest's default."""
    import onnxruntime as ort

    sess = ort.InferenceSession(a.onnx, providers=["CPUExecutionProvider"])
    size = sess.get_inputs()[0].shape[2]
    val = read_split("valid")

    def run(x):
        return sess.run(["boxes"], {"images": x})[0]

    for thr in a.thresholds:
        r, p, tp, npred, ngt = evaluate_items(run, val, thr, a.nms, size)
        print(f"score >= {thr:.2f}: valid recall {r:.4f} precision {p:.4f} ({tp}/{ngt} gt, {npred} pred)")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    th = sub.add_parser("threshold")
    th.add_argument("--onnx", required=True)
    th.add_argument("--nms", type=float, default=0.45)
    th.add_argument("--thresholds", nargs="+", type=float, default=[0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7])
    t = sub.add_parser("train")
    t.add_argument("--ckpt", required=True)
    t.add_argument("--minutes", type=float, default=40)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--workers", type=int, default=1)
    t.add_argument("--device", default="auto", help="auto (a CUDA GPU when torch sees one), cpu or cuda")
    t.add_argument("--synth-prob", type=float, default=0.5)
    t.add_argument("--size", type=int, default=SIZE, help="square input canvas, a multiple of 32 (engine: manifest input_width)")
    t.add_argument("--small-grid-prob", type=float, default=0.0,
                   help="share of canvases that are 3x3 grids of small photos (small plates)")
    t.add_argument("--init", help="checkpoint to warm-start the weights from (a fresh run only)")
    t.add_argument("--init-onnx", help="exported ONNX file to start the weights from (a fresh run only)")
    t.add_argument("--eval-every", type=float, default=300)
    t.add_argument("--bf16", action="store_true",
                   help="convolutions in bfloat16 (about 1.8x faster on CPUs with AVX512-BF16; much slower without)")
    e = sub.add_parser("export")
    e.add_argument("--ckpt", required=True)
    e.add_argument("--out", required=True)
    a = ap.parse_args()
    {"train": train, "export": export, "threshold": threshold}[a.cmd](a)


if __name__ == "__main__":
    main()
