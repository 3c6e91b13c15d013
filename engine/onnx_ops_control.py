"""ONNX control flow: If, Loop and Scan (opset 9 and later), which run graph attributes through `node.run_graph`.

Registered into engine.onnx_ops.OPS when engine.onnx imports this module. A branch condition, a trip count and a
Loop's continue flag are read as static values each time they are needed (a kernel runs for a computed one);
loop-carried values are realized after every iteration, so the graph an iteration builds stays small.
"""

from __future__ import annotations

import numpy as np

from engine.dtype import dtypes
from engine.onnx_ops import Attrs, Inputs, Node, const, op, static
from engine.tensor import Tensor


def _flag(t: Tensor) -> bool:
    v = np.asarray(static(t)).reshape(-1)
    if v.size != 1:
        raise ValueError(f"a condition must hold one value, got shape {t.shape}")
    return bool(v[0])


def _realized(ts: list[Tensor]) -> list[Tensor]:
    return [t.realize() if isinstance(t, Tensor) else t for t in ts]


@op("If")
def _if(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    assert node.run_graph is not None
    branch = attrs["then_branch"] if _flag(inp[0]) else attrs["else_branch"]
    return node.run_graph(branch, [])


@op("Loop")
def _loop(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    assert node.run_graph is not None
    body = attrs["body"]
    trips = None if len(inp) < 1 or inp[0] is None else int(np.asarray(static(inp[0])).reshape(-1)[0])
    keep = True if len(inp) < 2 or inp[1] is None else _flag(inp[1])
    carried = list(inp[2:])
    scans: list[list[Tensor]] = []
    i = 0
    while (trips is None or i < trips) and keep:
        outs = node.run_graph(body, [const(np.int64(i), node.device), const(np.bool_(keep), node.device)] + carried)
        if len(outs) < 1 + len(carried):
            raise ValueError(f"the body returns {len(outs)} values for {len(carried)} loop-carried ones")
        keep = _flag(outs[0])
        carried = _realized(outs[1:1 + len(carried)])
        if not scans:
            scans = [[] for _ in outs[1 + len(carried):]]
        for acc, v in zip(scans, outs[1 + len(carried):]):
            acc.append(v)
        i += 1
    n_scan = node.n_outputs - len(carried)
    if not scans:  # no iteration ran: empty scan outputs
        return carried + [Tensor.zeros((0,), dtypes.float32, node.device) for _ in range(n_scan)]
    return carried + [Tensor.stack(acc, 0) for acc in scans]


@op("Scan")
def _scan(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    assert node.run_graph is not None
    if node.opset < 9:
        return _scan8(inp, attrs, node)
    body = attrs["body"]
    m = attrs["num_scan_inputs"]
    n = len(inp) - m
    states, xs = list(inp[:n]), list(inp[n:])
    in_axes = [a % x.ndim for a, x in zip(attrs.get("scan_input_axes") or [0] * m, xs)]
    in_dirs = attrs.get("scan_input_directions") or [0] * m
    steps = xs[0].shape[in_axes[0]] if xs else 0
    per_step: list[list[Tensor]] = []
    for t in range(steps):
        slices = []
        for x, a, rev in zip(xs, in_axes, in_dirs):
            j = steps - 1 - t if rev else t
            slices.append(x.shrink([(j, j + 1) if k == a else None for k in range(x.ndim)]).squeeze(a))
        outs = node.run_graph(body, states + slices)
        states = _realized(outs[:n])
        per_step.append(outs[n:])
    k = node.n_outputs - n
    out_axes = attrs.get("scan_output_axes") or [0] * k
    out_dirs = attrs.get("scan_output_directions") or [0] * k
    scans = []
    for j in range(k):
        seq = [step[j] for step in per_step]
        if out_dirs[j]:
            seq = seq[::-1]
        axis = out_axes[j] % (seq[0].ndim + 1)
        scans.append(Tensor.stack(seq, axis))
    return states + scans


def _scan8(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    """Scan of opset 8: a batch axis first on every state and sequence, optional per-row lengths (steps past a row's
    length leave its states alone and give zero scan outputs); the body runs per row and step."""
    assert node.run_graph is not None
    body, m = attrs["body"], attrs["num_scan_inputs"]
    lens_t, rest = inp[0], list(inp[1:])
    n = len(rest) - m
    states, xs = rest[:n], rest[n:]
    dirs = attrs.get("directions") or [0] * m
    batch, steps = xs[0].shape[0], xs[0].shape[1]
    lens = [steps] * batch if lens_t is None else [int(v) for v in np.asarray(static(lens_t)).reshape(-1)]
    k = node.n_outputs - n
    final: list[list[Tensor]] = [[] for _ in range(n)]
    scans: list[list[Tensor]] = [[] for _ in range(k)]
    for b in range(batch):
        st = [s[b] for s in states]
        outs_b: list[list[Tensor]] = [[] for _ in range(k)]
        for t in range(lens[b]):
            slices = [x[b, (lens[b] - 1 - t) if rev else t] for x, rev in zip(xs, dirs)]
            outs = node.run_graph(body, st + slices)
            st = _realized(outs[:n])
            for acc, v in zip(outs_b, outs[n:]):
                acc.append(v)
        for j in range(n):
            final[j].append(st[j])
        for j in range(k):
            if not outs_b[j]:
                raise NotImplementedError("a row of length 0 leaves its scan output's shape unknown")
            seq = Tensor.stack(outs_b[j], 0)
            scans[j].append(seq.pad([(0, steps - lens[b])] + [(0, 0)] * (seq.ndim - 1)))
    return [Tensor.stack(f, 0) for f in final] + [Tensor.stack(sc, 0) for sc in scans]
