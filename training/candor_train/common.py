"""Shared helpers: conv blocks, BatchNorm folding, checkpoints, seeding."""

from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch import nn


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def warn_if_bf16_emulated() -> None:
    """--bf16 pays off only where the CPU computes bfloat16 natively; elsewhere (AVX2-only
    CPUs) torch emulates it and training runs several times slower than float32."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return
    if "avx512_bf16" not in flags and "amx_bf16" not in flags:
        print("warning: this CPU has no native bfloat16 (avx512_bf16 or amx_bf16), so --bf16 is "
              "emulated and much slower than float32; drop --bf16", flush=True)


def pick_device(name: str) -> torch.device:
    """--device: "auto" takes a CUDA GPU when torch sees one and the CPU otherwise; "cuda"
    refuses to fall back, so a run meant for a lent GPU does not crawl on the CPU unnoticed."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA GPU here (torch.cuda.is_available() is "
                         "False); use --device cpu, or install a CUDA build of torch")
    if name not in ("cpu", "cuda"):
        raise SystemExit(f"--device {name}: expected auto, cpu or cuda")
    return torch.device(name)


def conv_bn(cin: int, cout: int, k=3, s=1, p=None, act="relu") -> nn.Sequential:
    if p is None:
        p = (k // 2) if isinstance(k, int) else tuple(x // 2 for x in k)
    layers = [nn.Conv2d(cin, cout, k, s, p, bias=False), nn.BatchNorm2d(cout)]
    if act == "relu":
        layers.append(nn.ReLU(inplace=True))
    elif act == "leaky":
        layers.append(nn.LeakyReLU(0.1, inplace=True))
    return nn.Sequential(*layers)


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Replaces every (Conv2d, BatchNorm2d) pair inside Sequentials by one Conv2d with bias, so
    the exported graph holds plain Conv ops only."""
    for name, child in module.named_children():
        if isinstance(child, nn.Sequential):
            items = list(child)
            out = []
            i = 0
            while i < len(items):
                if (i + 1 < len(items) and isinstance(items[i], nn.Conv2d)
                        and isinstance(items[i + 1], nn.BatchNorm2d)):
                    out.append(torch.nn.utils.fusion.fuse_conv_bn_eval(items[i], items[i + 1]))
                    i += 2
                else:
                    out.append(fold_batchnorm(items[i]))
                    i += 1
            setattr(module, name, nn.Sequential(*out))
        else:
            fold_batchnorm(child)
    return module


def save_checkpoint(path: str, **state) -> None:
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str):
    if os.path.exists(path):
        return torch.load(path, map_location="cpu", weights_only=False)
    return None


def onnx_op_types(path: str) -> list[str]:
    import onnx

    m = onnx.load(path)
    return sorted({n.op_type for n in m.graph.node})


def simplify_graph(path: str) -> None:
    """Rewrites the exported graph so it holds only plain ops: the dynamic-batch flatten that
    the exporter builds from Shape/Slice/Concat becomes one Reshape with the constant shape
    [0, 0, -1] (copy N and the second dim, flatten the rest), Identity nodes are bypassed, and
    nodes nobody consumes are removed."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    g = m.graph
    # Every Reshape in Candor's graphs is a flatten(2) of a 4-D tensor: [N, C, H, W] -> [N, C, H*W].
    reshapes = [n for n in g.node if n.op_type == "Reshape"]
    if not reshapes:
        raise ValueError("expected the output flatten (a Reshape) in the graph")
    name = "flatten_shape_0_0_m1"
    g.initializer.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64), name))
    for r in reshapes:
        r.input[1] = name
    outputs = {o.name for o in g.output}
    for n in [n for n in g.node if n.op_type == "Identity"]:
        if n.output[0] in outputs:
            continue
        for other in g.node:
            for i, inp in enumerate(other.input):
                if inp == n.output[0]:
                    other.input[i] = n.input[0]
    while True:
        used = {i for n in g.node for i in n.input} | outputs
        dead = [n for n in g.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    used = {i for n in g.node for i in n.input}
    for init in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(init)
    onnx.checker.check_model(m)
    onnx.save(m, path)


def average_onnx(paths: list[str], out: str, weights: list[float] | None = None) -> None:
    """Writes the weighted average of exported graphs that share one graph and differ only
    in their weights ("model soup"). Runs warm-started from one another stay close enough in
    weight space that the average is a working model, often better than each; it is checked
    like any other candidate before it ships."""
    import onnx
    from onnx import numpy_helper

    if len(paths) < 2:
        raise ValueError("averaging needs at least two exported files")
    weights = weights or [1.0 / len(paths)] * len(paths)
    if len(weights) != len(paths) or abs(sum(weights) - 1.0) > 1e-6 or min(weights) < 0:
        raise ValueError(f"weights {weights} must be one per file, non-negative, summing to 1")
    models = [onnx.load(p) for p in paths]
    base = models[0]
    for p, m in zip(paths[1:], models[1:]):
        if [(n.op_type, list(n.input), list(n.output)) for n in m.graph.node] != \
                [(n.op_type, list(n.input), list(n.output)) for n in base.graph.node]:
            raise ValueError(f"{p} has another graph than {paths[0]}; only weights may differ")
    tensors = [{i.name: numpy_helper.to_array(i) for i in m.graph.initializer} for m in models]
    for init in base.graph.initializer:
        arrays = [t[init.name] for t in tensors]
        if any(a.shape != arrays[0].shape for a in arrays):
            raise ValueError(f"initializer {init.name} differs in shape between the files")
        if arrays[0].dtype.kind != "f":  # shapes and indices stay as they are
            continue
        mean = sum(w * a.astype(np.float64) for w, a in zip(weights, arrays)).astype(arrays[0].dtype)
        init.CopyFrom(numpy_helper.from_array(mean, init.name))
    onnx.checker.check_model(base)
    onnx.save(base, out)


def init_from_onnx(model: nn.Module, path: str, calibration: torch.Tensor) -> None:
    """Loads the weights of an exported (BatchNorm-folded) ONNX graph back into `model`, so a
    shipped model can be trained further when its checkpoint is gone.

    Convs are matched in execution order (the order the exporter wrote them). Each folded conv
    becomes the conv plus a BatchNorm whose running statistics are measured on `calibration`
    and whose scale and shift undo them, so the model computes the ONNX graph's function both
    in eval mode and, on batches like `calibration`, in train mode."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(path).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    folded = [(inits[n.input[1]], inits[n.input[2]] if len(n.input) > 2 else None)
              for n in graph.node if n.op_type == "Conv"]
    bn_after = {}
    for seq in model.modules():
        if isinstance(seq, nn.Sequential):
            items = list(seq)
            for conv, bn in zip(items, items[1:]):
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    bn_after[conv] = bn
    order = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    model.eval()
    with torch.no_grad():
        model(calibration[:1])
    for h in hooks:
        h.remove()
    if len(order) != len(folded):
        raise ValueError(f"{path} has {len(folded)} convs, the model runs {len(order)}")
    bias_of = {}
    with torch.no_grad():
        for conv, (w, b) in zip(order, folded):
            if tuple(conv.weight.shape) != w.shape:
                raise ValueError(f"{path}: conv weight {w.shape} does not fit {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(w.copy()))
            bias = torch.from_numpy(b.copy()) if b is not None else torch.zeros(w.shape[0])
            if conv in bn_after:
                bn = bn_after[conv]
                # identity BatchNorm plus the folded bias: eval mode now computes the ONNX graph
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
                bn.weight.fill_(1.0)
                bn.bias.copy_(bias)
                bias_of[conv] = bias
            else:
                conv.bias.copy_(bias)
        # measure each folded conv's output statistics, then make BatchNorm normalise by them
        stats = {}
        hooks = [conv.register_forward_hook(
            lambda m, i, o: stats.__setitem__(m, (o.mean((0, 2, 3)), o.var((0, 2, 3), unbiased=False))))
            for conv in bias_of]
        model(calibration)
        for h in hooks:
            h.remove()
        for conv, bias in bias_of.items():
            mean, var = stats[conv]
            bn = bn_after[conv]
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.copy_(mean + bias)
