"""Plate text recogniser, CTC over `0-9A-Z`, in one of two architectures:

- `conv`: a conv-only network over grey 32x128 crops, trained from scratch;
- `ppocr`: the PP-OCRv4 mobile recogniser fine-tuned over RGB 48xW crops (`ppocr.py`).

The input layout comes from the training data (`gen_ocr --height --width --channels`).

Train:  python -m candor_train.recognizer train --data work/ocr_train.npz --val work/ocr_val.npz \
            --ckpt work/rec.pt --minutes 40 --seed 1 [--arch ppocr]
Export: python -m candor_train.recognizer export --ckpt work/rec.pt --out ../models/plate_recognizer.onnx
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from .common import (average_onnx, conv_bn, fold_batchnorm, init_from_onnx, load_checkpoint, pick_device, save_checkpoint,
                     seed_everything, simplify_graph, warn_if_bf16_emulated)
from .synth import ALPHABET

H, W = 32, 128
MEAN, STD = 0.5, 0.5
NUM_CLASSES = 1 + len(ALPHABET)  # index 0 = CTC blank


class Recognizer(nn.Module):
    """[N,1,32,128] -> logits [N,32,37]; each output step covers 4 input columns."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(1, 32), nn.MaxPool2d(2),  # 16x64
            conv_bn(32, 48), nn.MaxPool2d(2),  # 8x32
            conv_bn(48, 96), conv_bn(96, 96), nn.MaxPool2d((2, 1)),  # 4x32
            conv_bn(96, 128), conv_bn(128, 128), nn.MaxPool2d((2, 1)),  # 2x32
            conv_bn(128, 192, k=(2, 3), p=(0, 1)),  # 1x32
            conv_bn(192, 192, k=(1, 3), p=(0, 1)),  # horizontal context
        )
        self.dropout = nn.Dropout(0.15)
        self.head = nn.Conv2d(192, NUM_CLASSES, 1)

    def forward(self, x):
        y = self.head(self.dropout(self.features(x)))  # [N,C,1,T]
        return y.permute(0, 3, 1, 2).flatten(2)  # [N,T,C]


def build_model(arch: str) -> nn.Module:
    if arch == "ppocr":
        from .ppocr import PPOCRRecognizer

        return PPOCRRecognizer()
    return Recognizer()


def encode_labels(labels):
    targets = [torch.tensor([ALPHABET.index(c) + 1 for c in t], dtype=torch.long) for t in labels]
    lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
    return torch.cat(targets), lengths


def greedy_decode(logits: np.ndarray) -> list[str]:
    out = []
    for seq in logits.argmax(-1):
        s, prev = [], 0
        for k in seq:
            if k != prev and k != 0:
                s.append(ALPHABET[k - 1])
            prev = k
        out.append("".join(s))
    return out


def to_tensor(x_uint8: np.ndarray) -> torch.Tensor:
    """[N,H,W] grey or [N,H,W,3] RGB uint8 -> [N,C,H,W] normalised as the manifest says."""
    x = torch.from_numpy(x_uint8).float()
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
    return (x / 255.0 - MEAN) / STD


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Cheap online augmentation on normalised batches: contrast/brightness jitter, inversion
    of a few crops (light text on dark plates), small horizontal shifts."""
    n = x.shape[0]
    if x.shape[1] == 3:  # colour casts (sodium light, IR, white balance)
        x = x * torch.empty(n, 3, 1, 1).uniform_(0.85, 1.15, generator=g)
    a = torch.empty(n, 1, 1, 1).uniform_(0.7, 1.2, generator=g)
    b = torch.empty(n, 1, 1, 1).uniform_(-0.2, 0.2, generator=g)
    x = x * a + b
    inv = (torch.rand(n, generator=g) < 0.05).view(n, 1, 1, 1)
    x = torch.where(inv, -x, x)
    shift = int(torch.randint(-4, 5, (1,), generator=g))
    if shift:
        x = torch.roll(x, shift, dims=3)
    return x


def load_sets(paths):
    xs, ys = [], []
    for p in paths:
        d = np.load(p)
        xs.append(d["x"])
        ys.extend(str(t) for t in d["y"])
    return np.concatenate(xs), ys


def evaluate(model, x, y, batch=128):
    model.eval()
    device = next(model.parameters()).device
    preds = []
    with torch.no_grad():
        for i in range(0, len(y), batch):
            preds.extend(greedy_decode(model(to_tensor(x[i:i + batch]).to(device)).cpu().numpy()))
    return float(np.mean([p == t for p, t in zip(preds, y)]))


def train(a):
    torch.set_num_threads(a.threads)
    seed_everything(a.seed)
    device = pick_device(a.device)
    if a.bf16 and device.type == "cpu":
        warn_if_bf16_emulated()
    weights = a.weights or [1.0] * len(a.data)
    if len(weights) != len(a.data):
        raise SystemExit("--weights needs one value per --data file")
    sets = []
    for path in a.data:
        sx, sy = load_sets([path])
        keep = [i for i, t in enumerate(sy) if 0 < len(t) <= 16]
        sets.append((sx[keep], [sy[i] for i in keep]))
        print(f"{path}: {len(keep)} crops, weight {weights[len(sets) - 1]}")
    probs = np.array(weights, np.float64) / sum(weights)
    vals = [load_sets([v]) for v in a.val]
    layout = sets[0][0].shape[1:]
    model = build_model(a.arch)
    state = load_checkpoint(a.ckpt)
    step, best, elapsed = 0, -1.0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        step, best, elapsed = state["step"], state["best"], state["elapsed"]
        print(f"resumed at step {step}, {elapsed / 60:.1f} min, best val {best:.4f}")
    elif a.init:
        # continue from another run's weights with a fresh optimiser and schedule
        model.load_state_dict(load_checkpoint(a.init)["model"])
        print(f"initialised from {a.init}")
    elif a.init_onnx:
        # continue training a shipped model whose checkpoint is gone
        if a.arch == "ppocr":
            model.load_exported(a.init_onnx)
        else:
            init_from_onnx(model, a.init_onnx, to_tensor(sets[0][0][:512]))
        print(f"initialised from {a.init_onnx}")
    if a.freeze_convs:
        model.freeze_first_convs(a.freeze_convs)
    # weights are loaded on the CPU, then moved; the optimiser is made for the moved weights.
    # Channels-last runs the depthwise convolutions of the ppocr network about twice as fast.
    memory_format = torch.channels_last if a.arch == "ppocr" else torch.contiguous_format
    model.to(device, memory_format=memory_format)
    trainable = [p for p in model.parameters() if p.requires_grad]
    print(f"{sum(p.numel() for p in trainable):,} of {sum(p.numel() for p in model.parameters()):,} parameters trained")
    opt = torch.optim.AdamW(trainable, lr=a.lr, weight_decay=a.weight_decay)
    if state is not None:
        opt.load_state_dict(state["opt"])
    print(f"training on {device}")
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    g = torch.Generator().manual_seed(a.seed + step)
    rng = np.random.default_rng(a.seed + step)
    budget = a.minutes * 60
    t0 = time.time() - elapsed
    last_eval = time.time()

    def progress():
        # the schedule's position: by steps when --steps names a budget (a busy machine then
        # slows the run but does not shorten it), otherwise by wall-clock time
        return step / a.steps if a.steps else (time.time() - t0) / budget

    def eval_due():
        if progress() >= 1.0:
            return True
        if a.steps and a.eval_steps:
            return step % a.eval_steps == 0
        return time.time() - last_eval > a.eval_every

    while progress() < 1.0:
        model.train()
        counts = rng.multinomial(a.batch, probs)
        xs_, ys_ = [], []
        for (sx, sy), c in zip(sets, counts):
            idx = rng.integers(0, len(sy), size=c)
            xs_.append(sx[idx])
            ys_.extend(sy[i] for i in idx)
        xb = augment(to_tensor(np.concatenate(xs_)), g).to(device).contiguous(memory_format=memory_format)
        tg, tl = (t.to(device) for t in encode_labels(ys_))
        # cosine decay over the budget
        frac = min(1.0, progress())
        lr = a.lr * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * frac)))
        if step < a.warmup:
            lr *= (step + 1) / a.warmup
        for pg in opt.param_groups:
            pg["lr"] = lr
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.bf16):
            logits = model(xb)
        logp = logits.float().log_softmax(2).permute(1, 0, 2)  # [T,N,C]
        il = torch.full((a.batch,), logp.shape[0], dtype=torch.long, device=device)
        loss = ctc(logp, tg, il, tl)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(trainable, 5.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.3f} lr {lr:.5f} {(time.time() - t0) / 60:.1f} min", flush=True)
        if eval_due():
            # the checkpoint rule: the mean exact-match over the --val sets, each weighted equally
            accs = [evaluate(model, vx, vy) for vx, vy in vals]
            acc = float(np.mean(accs))
            last_eval = time.time()
            each = " ".join(f"{v}={x:.4f}" for v, x in zip(a.val, accs))
            print(f"step {step} val exact {each} mean {acc:.4f}", flush=True)
            meta = dict(arch=a.arch, layout=tuple(int(d) for d in layout))
            if acc > best:
                best = acc
                save_checkpoint(a.ckpt + ".best", model=model.state_dict(), step=step, val=acc, **meta)
            save_checkpoint(a.ckpt, model=model.state_dict(), opt=opt.state_dict(), step=step, best=best,
                            elapsed=time.time() - t0, **meta)
    print(f"done: {step} steps, best synthetic-val exact {best:.4f}")


def export(a):
    state = load_checkpoint(a.ckpt)
    arch = state.get("arch", "conv")
    model = build_model(arch)
    model.load_state_dict(state["model"])
    model.eval()
    h, w = state.get("layout", (H, W))[:2]
    c = 3 if arch == "ppocr" else 1
    if arch == "conv":
        fold_batchnorm(model)
    dummy = torch.zeros(2, c, h, w)
    with torch.no_grad():
        torch.onnx.export(model, dummy, a.out, input_names=["crops"], output_names=["logits"],
                          dynamic_axes={"crops": {0: "N"}, "logits": {0: "N"}}, opset_version=17,
                          dynamo=False)
    if arch == "conv":
        simplify_graph(a.out)
    else:
        from .ppocr import fuse_activations

        print(f"fused {fuse_activations(a.out, a.out)} hard-swish activations")
    import onnxruntime as ort

    sess = ort.InferenceSession(a.out, providers=["CPUExecutionProvider"])
    x = torch.randn(5, c, h, w)
    ref = model(x).detach().numpy()
    got = sess.run(["logits"], {"crops": x.numpy()})[0]
    err = float(np.abs(ref - got).max())
    print(f"exported {a.out} (step {state.get('step')}); output {got.shape}; max |torch-onnx| = {err:.2e}")
    assert err < 1e-3, "ONNX output differs from torch"


def average(a):
    average_onnx(a.onnx, a.out, a.weights)
    print(f"averaged {len(a.onnx)} files -> {a.out}")


def check(a):
    """Exact-plate accuracy of an exported file on validation .npz sets (synthetic or the
    hand-labelled real valid crops), for choosing between checkpoints; never ocr-eval."""
    from .evaluate import session

    sess = session(a.onnx)
    for path in a.data:
        d = np.load(path)
        x, y = d["x"], [str(t) for t in d["y"]]
        pred = []
        for i in range(0, len(x), 256):
            pred += greedy_decode(sess.run(["logits"], {"crops": to_tensor(x[i:i + 256]).numpy()})[0])
        right = np.array([p == t for p, t in zip(pred, y)])
        print(f"{a.onnx} on {path}: exact {right.mean():.4f} ({len(y)} crops)")
        regions = d.get("region")
        if regions is not None:  # synthetic sets: each region on its own (eu-de, eu-fr, ... as eu)
            groups = np.array([str(r).split("-")[0] for r in regions])
            for g in sorted(set(groups)):
                print(f"  {g}: exact {right[groups == g].mean():.4f} ({int((groups == g).sum())} crops)")
        if a.errors:
            for i, (p, t) in enumerate(zip(pred, y)):
                if p != t:
                    print(f"  #{i}: label {t} read {p or '(nothing)'}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", nargs="+", required=True)
    t.add_argument("--weights", nargs="+", type=float, help="sampling weight per --data file")
    t.add_argument("--val", nargs="+", required=True,
                   help="validation sets; the best checkpoint has the highest mean exact-match over them")
    t.add_argument("--arch", choices=("conv", "ppocr"), default="conv")
    t.add_argument("--weight-decay", type=float, default=1e-4)
    t.add_argument("--freeze-convs", type=int, default=0,
                   help="ppocr: keep the first N convolutions (and all before them) as the base has them")
    t.add_argument("--warmup", type=int, default=300, help="steps of linear learning-rate warm-up")
    t.add_argument("--init", help="checkpoint to start the weights from (a fresh run only)")
    t.add_argument("--init-onnx", help="exported ONNX file to start the weights from (a fresh run only)")
    t.add_argument("--ckpt", required=True)
    t.add_argument("--minutes", type=float, default=40, help="time budget (ignored with --steps)")
    t.add_argument("--steps", type=int, help="step budget: the schedule runs over steps, not time")
    t.add_argument("--eval-steps", type=int, help="with --steps: validate every this many steps")
    t.add_argument("--batch", type=int, default=96)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--device", default="auto", help="auto (a CUDA GPU when torch sees one), cpu or cuda")
    t.add_argument("--eval-every", type=float, default=120, help="seconds between validation runs")
    t.add_argument("--bf16", action="store_true",
                   help="convolutions in bfloat16 (about 1.8x faster on CPUs with AVX512-BF16; much slower without)")
    e = sub.add_parser("export")
    e.add_argument("--ckpt", required=True)
    e.add_argument("--out", required=True)
    s = sub.add_parser("average", help="average the weights of exported files of one graph (model soup)")
    s.add_argument("--onnx", nargs="+", required=True)
    s.add_argument("--weights", nargs="+", type=float, help="one per file, summing to 1 (default: equal)")
    s.add_argument("--out", required=True)
    c = sub.add_parser("check")
    c.add_argument("--onnx", required=True)
    c.add_argument("--data", nargs="+", required=True)
    c.add_argument("--errors", action="store_true", help="list every misread crop (label, read)")
    a = ap.parse_args()
    {"train": train, "export": export, "average": average, "check": check}[a.cmd](a)


if __name__ == "__main__":
    main()
