"""The PP-OCRv4 mobile text recogniser as a trainable PyTorch module, with a plate-alphabet head.

The base is `ch_PP-OCRv4_rec_infer.onnx` from the PyPI wheel `rapidocr-onnxruntime==1.4.4`
(PaddleOCR's model, Apache-2.0): a PP-LCNetV3 backbone (re-parameterised, so its convolutions
carry their BatchNorm), an SVTR neck and a CTC head over 6,625 characters. Its weights are
`Constant` nodes, which converters refuse, so this module runs the graph itself: every node in
graph order with the matching torch operation, every named float constant a trainable
parameter (BatchNorm running statistics stay fixed), and the graph's helper constants buffers.

The graph is cut before its classifier (`MatMul` 120 -> 6,625, `Add`, `Softmax`) and a new
classifier over Candor's alphabet takes its place, started from the base's rows for blank and
`0-9A-Z`, so the fine-tune begins where the base reads plates already. The first convolution's
input channels are swapped so that the module takes RGB, as the engine feeds it (the base
takes BGR); the function is unchanged. Input: `[N,3,48,W]`, `(pixel/255 - 0.5)/0.5`;
output: raw logits `[N,W/8,37]`.

    python -m candor_train.ppocr check     # the rebuilt module against onnxruntime on the base
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .synth import ALPHABET

BASE_FILE = "ch_PP-OCRv4_rec_infer.onnx"
BASE_SHA256 = "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b"
NUM_CLASSES = 1 + len(ALPHABET)


def base_path() -> str:
    """The base graph inside the installed rapidocr-onnxruntime wheel."""
    try:
        import rapidocr_onnxruntime
    except ImportError as e:
        raise SystemExit("the PP-OCRv4 base needs `pip install rapidocr-onnxruntime==1.4.4`") from e
    return os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models", BASE_FILE)


def _key(name: str) -> str:
    return name.replace(".", "_")


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class PPOCRRecognizer(nn.Module):
    """The base graph up to its classifier, then `head` over blank + `0-9A-Z`."""

    def __init__(self, onnx_path: str | None = None):
        super().__init__()
        import onnx
        from onnx import numpy_helper

        model = onnx.load(onnx_path or base_path())
        consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t)
                  for n in model.graph.node if n.op_type == "Constant"}
        nodes = [n for n in model.graph.node if n.op_type != "Constant"]
        # cut at the classifier: the last MatMul's input is the [N,T,120] sequence feature
        head_at = max(i for i, n in enumerate(nodes) if n.op_type == "MatMul")
        head_node = nodes[head_at]
        self.feature_name = head_node.input[0]
        self.nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n)) for n in nodes[:head_at]]
        # each intermediate is dropped after the last node that reads it, so that a forward
        # pass holds only what autograd needs, not every activation of the graph
        last_use: dict[str, int] = {}
        for i, (_, ins, _, _) in enumerate(self.nodes):
            for name in ins:
                last_use[name] = i
        self.drop_after = [[name for name in set(ins) if last_use[name] == i and name != self.feature_name]
                           for i, (_, ins, _, _) in enumerate(self.nodes)]
        frozen = set()  # BatchNorm running statistics
        for n in nodes:
            if n.op_type == "BatchNormalization":
                frozen.update(n.input[3:5])
        self.params = nn.ParameterDict()
        self.ints: dict[str, list[int] | int] = {}
        used = {i for _, ins, _, _ in self.nodes for i in ins}
        for name, v in consts.items():
            if name not in used:
                continue
            if v.dtype.kind in "iu":
                self.ints[name] = v.tolist()
            elif name.startswith("p2o.") or name in frozen:
                self.register_buffer(_key(name), torch.from_numpy(v.astype(np.float32).copy()))
            else:
                self.params[_key(name)] = nn.Parameter(torch.from_numpy(v.astype(np.float32).copy()))
        # the engine feeds RGB; the base was trained on BGR
        first_conv = next(ins for op, ins, _, _ in self.nodes if op == "Conv")
        w = self.params[_key(first_conv[1])]
        w.data = w.data.flip(1).contiguous()
        # the plate head from the base's rows: blank, then each character of the alphabet
        chars = model.metadata_props[0].value.split("\n") if model.metadata_props else []
        w_full = consts[head_node.input[1]]  # [120, 6625]
        add = next(n for n in nodes[head_at:] if n.op_type == "Add")
        b_full = consts[add.input[1]]
        rows = [0] + [1 + chars.index(c) for c in ALPHABET]
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(w_full.shape[0], NUM_CLASSES)
        self.head.weight.data = torch.from_numpy(w_full[:, rows].T.copy())
        self.head.bias.data = torch.from_numpy(b_full[rows].copy())

    def freeze_first_convs(self, n: int) -> None:
        """Keeps the weights of the first `n` convolutions (and every parameter before them)
        as the base has them: the early, high-resolution layers hold generic stroke features
        and cost most of the backward pass on a CPU."""
        convs = [i for i, (op, _, _, _) in enumerate(self.nodes) if op == "Conv"]
        until = convs[n] if n < len(convs) else len(self.nodes)
        early = {_key(i) for _, ins, _, _ in self.nodes[:until] for i in ins}
        for name, p in self.params.items():
            p.requires_grad = name not in early

    def load_exported(self, path: str) -> None:
        """Loads the weights of a graph exported from this module (`recognizer export`), so a
        shipped recogniser can be trained further when its checkpoint is gone.

        The exporter keeps parameter names, except where it folded a BatchNorm into the
        convolution before it: there the convolution takes the folded weight and the BatchNorm
        becomes the identity plus the folded bias (statistics 0 and 1, scale 1), which computes
        the same function and keeps the scale where the optimiser expects it."""
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(path).graph
        inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
        state = self.state_dict()
        for name in state:
            if name in inits:
                state[name] = inits[name]
        head = [n for n in graph.node if n.op_type == "MatMul"][-1]
        state["head.weight"] = inits[head.input[1]].T.contiguous()
        folded = [(inits[n.input[1]], inits[n.input[2]]) for n in graph.node
                  if n.op_type == "Conv" and n.input[1] not in state]
        bn_of = {ins[0]: ins for op, ins, _, _ in self.nodes if op == "BatchNormalization"}
        pairs = [(ins[1], bn_of[outs[0]]) for op, ins, outs, _ in self.nodes
                 if op == "Conv" and f"params.{_key(ins[1])}" not in inits]
        if len(pairs) != len(folded):
            raise ValueError(f"{path}: {len(folded)} folded convolutions, this module has {len(pairs)}")
        for (conv_w, (_, scale, shift, mean, var)), (w, b) in zip(pairs, folded):
            eps = next(at.get("epsilon", 1e-5) for op, ins, _, at in self.nodes
                       if op == "BatchNormalization" and ins[1] == scale)
            state[f"params.{_key(conv_w)}"] = w
            state[_key(mean)] = torch.zeros_like(b)
            state[_key(var)] = torch.full_like(b, 1.0 - eps)
            state[f"params.{_key(scale)}"] = torch.ones_like(b)
            state[f"params.{_key(shift)}"] = b
        self.load_state_dict(state)

    def _const(self, name):
        if name in self.ints:
            return self.ints[name]
        k = _key(name)
        if k in self.params:
            return self.params[k]
        return getattr(self, k)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        env: dict = {"x": x}

        def get(name):
            return env[name] if name in env else self._const(name)

        for (op, ins, outs, at), drop in zip(self.nodes, self.drop_after):
            env[outs[0]] = _run(op, [get(i) if i else None for i in ins], at)
            for name in drop:
                env.pop(name, None)
        return env[self.feature_name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def _as_list(v):
    if isinstance(v, torch.Tensor):
        return [int(t) for t in v.reshape(-1)]
    return v if isinstance(v, list) else [v]


def _run(op, xs, at):
    """One ONNX node (opset 12, as the base graph uses them) in torch. Shape arithmetic stays in
    Python lists, so the module traces to a clean graph."""
    if op == "Conv":
        pads = at.get("pads", [0, 0, 0, 0])
        x = xs[0]
        half = len(pads) // 2
        if pads[:half] != pads[half:]:
            x = F.pad(x, [pads[3], pads[1], pads[2], pads[0]])
            pads = [0] * len(pads)
        return F.conv2d(x, xs[1], xs[2] if len(xs) > 2 else None, at.get("strides", 1),
                        pads[:half], at.get("dilations", 1), at.get("group", 1))
    if op == "BatchNormalization":
        return F.batch_norm(xs[0], xs[3], xs[4], xs[1], xs[2], False, 0.0, at.get("epsilon", 1e-5))
    if op in ("Mul", "Add", "Sub", "Div", "Pow"):
        a, b = xs
        if isinstance(a, list) or isinstance(b, list):
            raise NotImplementedError(f"{op} on shapes")
        return {"Mul": torch.mul, "Add": torch.add, "Sub": torch.sub, "Div": torch.div,
                "Pow": torch.pow}[op](a, b)
    if op == "Clip":
        lo = float(xs[1]) if len(xs) > 1 and xs[1] is not None else None
        hi = float(xs[2]) if len(xs) > 2 and xs[2] is not None else None
        return torch.clamp(xs[0], lo, hi)
    if op == "Cast":
        x = xs[0]
        if isinstance(x, (list, int)):
            return _as_list(x)
        if isinstance(x, torch.Tensor) and at["to"] == 7 and x.numel() <= 8 and not x.requires_grad:
            return _as_list(x)
        return x.float() if at["to"] == 1 else x.long()
    if op == "Shape":
        return list(xs[0].shape)
    if op == "Slice":
        data = xs[0]
        starts, ends = _as_list(xs[1]), _as_list(xs[2])
        axes = _as_list(xs[3]) if len(xs) > 3 and xs[3] is not None else list(range(len(starts)))
        steps = _as_list(xs[4]) if len(xs) > 4 and xs[4] is not None else [1] * len(starts)
        if isinstance(data, list):
            (s,), (e,), (st,) = starts, ends, steps
            return data[s:min(e, len(data))][::st] if st > 0 else data[s:e:st]
        index = [slice(None)] * data.dim()
        for s, e, ax, st in zip(starts, ends, axes, steps):
            index[ax] = slice(s, min(e, data.shape[ax]), st)
        return data[tuple(index)]
    if op == "Concat":
        if any(isinstance(x, list) for x in xs):
            return [v for x in xs for v in _as_list(x)]
        return torch.cat(xs, at["axis"])
    if op == "Reshape":
        shape = _as_list(xs[1])
        shape = [xs[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
        return xs[0].reshape(shape)
    if op == "Transpose":
        return xs[0].permute(at["perm"])
    if op == "Squeeze":
        x = xs[0]
        for ax in sorted(at["axes"], reverse=True):
            x = x.squeeze(ax)
        return x
    if op == "ReduceMean":
        return xs[0].mean(dim=at["axes"], keepdim=bool(at.get("keepdims", 1)))
    if op == "MatMul":
        return torch.matmul(xs[0], xs[1])
    if op == "Softmax":
        return torch.softmax(xs[0], at.get("axis", -1))
    if op == "Sigmoid":
        return torch.sigmoid(xs[0])
    if op == "Sqrt":
        return torch.sqrt(xs[0])
    if op == "Relu":
        return F.relu(xs[0])
    if op == "HardSigmoid":
        return torch.clamp(xs[0] * at.get("alpha", 0.2) + at.get("beta", 0.5), 0, 1)
    if op == "GlobalAveragePool":
        return xs[0].mean(dim=(2, 3), keepdim=True)
    if op == "AveragePool":
        pads = at.get("pads", [0, 0, 0, 0])
        return F.avg_pool2d(xs[0], at["kernel_shape"], at.get("strides"), pads[:2], bool(at.get("ceil_mode", 0)),
                            bool(at.get("count_include_pad", 0)))
    raise NotImplementedError(f"ONNX op {op} is not mapped to torch")


def check(a):
    """The rebuilt module against onnxruntime on the base graph: the same class scores for
    blank and the plate alphabet (after the base's softmax over all 6,625 classes)."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    model = PPOCRRecognizer().eval()
    sess = ort.InferenceSession(base_path(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 3, 48, a.width)).astype(np.float32)
    ref = sess.run(None, {"x": x[:, ::-1].copy()})[0]  # the base takes BGR
    proto = onnx.load(base_path())
    g = proto.graph
    chars = proto.metadata_props[0].value.split("\n")
    rows = [0] + [1 + chars.index(c) for c in ALPHABET]
    with torch.no_grad():
        feats = model.features(torch.from_numpy(x))
    print(f"sequence features {tuple(feats.shape)}; base output {ref.shape}")
    # the base's logits are features @ W + b; compare log-probabilities up to the softmax's constant
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in g.node if n.op_type == "Constant"}
    w = consts[model_head_weight_name(g)]
    full = feats.numpy() @ w
    b = consts[[n for n in g.node if n.op_type == "Add"][-1].input[1]]
    full = full + b
    full = full - full.max(-1, keepdims=True)
    probs = np.exp(full) / np.exp(full).sum(-1, keepdims=True)
    err = float(np.abs(probs - ref).max())
    print(f"max |torch - onnxruntime| over all {ref.shape[-1]} class probabilities: {err:.2e}")
    ours = model.head(feats).argmax(-1).numpy()
    base = ref[..., rows].argmax(-1)
    print(f"plate-head argmax agrees with the base restricted to the alphabet: {(ours == base).mean():.3f}")
    assert err < 1e-4, "the rebuilt module differs from the base graph"


def fuse_activations(path: str, out: str) -> int:
    """Rewrites an exported graph so each hard-swish, which the exporter spells as four
    element-wise nodes (`x * clip(x + 3, 0, 6) / 6`), is one `HardSwish` node: one pass over
    the tensor instead of four in the engine. Returns how many it fused; the function is
    unchanged (checked against onnxruntime by the caller)."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(path)
    g = m.graph
    known = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in g.node if n.op_type == "Constant"}
    known.update({i.name: numpy_helper.to_array(i) for i in g.initializer})
    for n in g.node:  # the exporter passes some constants through Identity nodes
        if n.op_type == "Identity" and n.input[0] in known:
            known[n.output[0]] = known[n.input[0]]

    def is_const(name, value):
        return name in known and known[name].size == 1 and float(known[name].reshape(())) == value

    producer = {o: n for n in g.node for o in n.output}
    readers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    fused = 0
    for clip in [n for n in g.node if n.op_type == "Clip"]:
        add = producer.get(clip.input[0])
        if add is None or add.op_type != "Add" or not is_const(add.input[1], 3.0):
            continue
        if not (is_const(clip.input[1], 0.0) and is_const(clip.input[2], 6.0)):
            continue
        x = add.input[0]
        muls = readers.get(clip.output[0], [])
        if len(muls) != 1 or muls[0].op_type != "Mul" or set(muls[0].input) != {x, clip.output[0]}:
            continue
        divs = readers.get(muls[0].output[0], [])
        if len(divs) != 1 or divs[0].op_type != "Div" or not is_const(divs[0].input[1], 6.0):
            continue
        if len(readers[add.output[0]]) != 1:
            continue
        at = list(g.node).index(divs[0])
        g.node.insert(at, helper.make_node("HardSwish", [x], [divs[0].output[0]]))
        for dead in (add, clip, muls[0], divs[0]):
            g.node.remove(dead)
        fused += 1
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    for n in [n for n in g.node if n.op_type in ("Constant", "Identity") and n.output[0] not in used]:
        g.node.remove(n)
    used = {i for n in g.node for i in n.input}
    for init in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(init)
    onnx.checker.check_model(m)
    onnx.save(m, out)
    return fused


def model_head_weight_name(graph) -> str:
    return [n for n in graph.node if n.op_type == "MatMul"][-1].input[1]


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--width", type=int, default=192)
    a = ap.parse_args()
    {"check": check}[a.cmd](a)


if __name__ == "__main__":
    main()
