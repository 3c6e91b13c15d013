"""ONNX handlers for composite layers: Attention, RotaryEmbedding, the losses, the recurrent layers.

Registered into engine.onnx_ops.OPS when engine.onnx imports this module; same handler contract as there. Each is
written from the operator's specification as engine Tensor code (masks as -inf additive biases, a fully masked
attention row gives zeros, not NaN).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.dtype import dtypes
from engine.onnx_ops import (
    OPS,
    Attrs,
    Inputs,
    Node,
    _ax,
    _full,
    _ints,
    _scalar,
    const,
    engine_dtype,
    matmul,
    op,
    static,
)
from engine.tensor import Tensor


def _opt(inp: Inputs, i: int) -> Any:
    return inp[i] if len(inp) > i else None


# ---------------------------------------------------------------------------------------------- attention
def _heads(t: Tensor, n: int) -> Tensor:
    """(B, S, n*h) -> (B, n, S, h)."""
    b, s, hid = t.shape
    return t.reshape(b, s, n, hid // n).permute(0, 2, 1, 3)


def _safe_softmax(x: Tensor) -> Tensor:
    """Softmax over the last axis where an all -inf row gives zeros (not NaN)."""
    m = x.max(-1, keepdim=True)
    m = (m == _full(m, -math.inf)).where(_full(m, 0), m)
    e = (x - m).exp()
    s = e.sum(-1, keepdim=True)
    return e / (s == _full(s, 0)).where(_full(s, 1), s)


def _frontier(i_len: int, j_len: int, offset: Any, dev: str) -> tuple[Tensor, Tensor]:
    """(i + offset) and j as broadcastable int64 tensors; a per-batch offset gives shape (B, 1, L, 1)."""
    i = Tensor.arange(i_len, dtype=dtypes.int64, device=dev).reshape(i_len, 1)
    j = Tensor.arange(j_len, dtype=dtypes.int64, device=dev).reshape(1, j_len)
    if isinstance(offset, Tensor):
        return i + offset.cast(dtypes.int64).reshape(-1, 1, 1, 1), j
    return i + offset, j


@op("Attention")
def _attention(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    q, k, v = inp[0], inp[1], inp[2]
    mask, past_k, past_v, nonpad = _opt(inp, 3), _opt(inp, 4), _opt(inp, 5), _opt(inp, 6)
    if (past_k is None) != (past_v is None):
        raise ValueError("past_key and past_value must be given together")
    three_d = q.ndim == 3
    if three_d:
        if "q_num_heads" not in attrs or "kv_num_heads" not in attrs:
            raise ValueError("3D inputs need the q_num_heads and kv_num_heads attributes")
        q, k, v = _heads(q, attrs["q_num_heads"]), _heads(k, attrs["kv_num_heads"]), _heads(v, attrs["kv_num_heads"])
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(f"Q, K, V must be 3D or 4D, got ranks {q.ndim}, {k.ndim}, {v.ndim}")
    dt, dev = q.dtype, q.device
    scale = attrs.get("scale")
    scale = 1 / math.sqrt(q.shape[3]) if scale is None else scale
    s = float(np.asarray(math.sqrt(scale)).astype(dt.np))  # the spec scales Q and K each by sqrt(scale)
    if past_k is not None:
        k, v = Tensor.cat([past_k, k], 2), Tensor.cat([past_v, v], 2)
    present_k, present_v = k, v
    lq, skv = q.shape[2], k.shape[2]
    neg_inf, zero = _full(q, -math.inf), _full(q, 0)

    bias: Tensor | None = None
    if mask is not None:
        if mask.shape[-1] < skv:
            pad = [(0, 0)] * (mask.ndim - 1) + [(0, skv - mask.shape[-1])]
            mask = mask.pad(pad, value=False if mask.dtype == dtypes.bool else -math.inf)
        bias = mask.where(zero, neg_inf) if mask.dtype == dtypes.bool else mask.cast(dt)
    if past_k is not None:
        offset: Any = past_k.shape[2]
    elif nonpad is not None:
        offset = nonpad - _full(nonpad, lq)
    else:
        offset = 0
    window = [attrs.get("left_window_size", -1), attrs.get("right_window_size", -1)]
    if attrs.get("is_causal", 0):
        i, j = _frontier(lq, skv, offset, dev)
        causal = (j <= i).where(zero, neg_inf)
        bias = causal if bias is None else bias + causal
    if window[0] >= 0 or window[1] >= 0:
        i, j = _frontier(lq, skv, offset, dev)
        allowed = Tensor.full((1, 1), True, dtypes.bool, dev)
        if window[0] >= 0:
            allowed = allowed & (i - j <= _full(j, window[0]))
        if window[1] >= 0:
            allowed = allowed & (j - i <= _full(j, window[1]))
        w = allowed.where(zero, neg_inf)
        bias = w if bias is None else bias + w
    if nonpad is not None:
        pm = Tensor.arange(skv, dtype=dtypes.int64, device=dev).reshape(1, skv) < \
            nonpad.cast(dtypes.int64).reshape(-1, 1)
        pm = pm.where(zero, neg_inf).reshape(q.shape[0], 1, 1, skv)
        bias = pm if bias is None else bias + pm

    qh, kh = q.shape[1], k.shape[1]
    if qh != kh:
        if qh % kh:
            raise ValueError(f"{qh} query heads are not a multiple of {kh} key/value heads")
        r = qh // kh

        def rep(t: Tensor) -> Tensor:
            b, h, n, d = t.shape
            return t.reshape(b, h, 1, n, d).expand(b, h, r, n, d).reshape(b, h * r, n, d)

        k, v = rep(k), rep(v)
    qk = matmul(q * s, (k * s).transpose(2, 3))
    softcap = attrs.get("softcap", 0.0)
    if softcap and softcap > 0:
        qk = (qk / softcap).tanh() * softcap
    mode = attrs.get("qk_matmul_output_mode", 0)
    with_bias = qk if bias is None else qk + bias
    qk_out = with_bias if mode == 2 else qk
    sm_in = with_bias
    if attrs.get("softmax_precision"):
        sm_in = sm_in.cast(engine_dtype(attrs["softmax_precision"], "softmax_precision"))
    p = _safe_softmax(sm_in)
    if bias is not None:  # a row the bias masks entirely attends to nothing: zeros, even if a logit is inf/NaN
        dead = bias.max(-1, keepdim=True) == _full(bias, -math.inf)
        p = dead.where(_full(p, 0), p)
    if mode == 3:
        qk_out = p
    y = matmul(p.cast(dt), v)
    if three_d:
        b, h, n, d = y.shape
        y = y.permute(0, 2, 1, 3).reshape(b, n, h * d)
    return [y, present_k, present_v, qk_out.cast(dt)]


@op("RotaryEmbedding")
def _rotary(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, cos, sin = inp[0], inp[1], inp[2]
    pos = _opt(inp, 3)
    interleaved = attrs.get("interleaved", 0)
    rank = x.ndim
    if rank == 4:  # (B, heads, S, h) -> (B, S, heads, h)
        xs = x.permute(0, 2, 1, 3)
    else:
        nh = attrs.get("num_heads", 0)
        if not nh:
            raise ValueError("3D input needs the num_heads attribute")
        b, sq, hid = x.shape
        xs = x.reshape(b, sq, nh, hid // nh)
    hs = xs.shape[3]
    rot = attrs.get("rotary_embedding_dim", 0) or hs
    if pos is not None:
        cos = cos[pos.cast(dtypes.int64)]
        sin = sin[pos.cast(dtypes.int64)]
    # cos/sin: (B, S, rot/2) -> (B, S, 1, rot/2)
    cos = cos.reshape(cos.shape[0], cos.shape[1], 1, cos.shape[2])
    sin = sin.reshape(sin.shape[0], sin.shape[1], 1, sin.shape[2])
    xr, rest = xs.shrink([None, None, None, (0, rot)]), xs.shrink([None, None, None, (rot, hs)])
    half = rot // 2
    if interleaved:
        pairs = xr.reshape(xr.shape[:3] + (half, 2))
        x1, x2 = pairs[..., 0], pairs[..., 1]
    else:
        x1, x2 = xr.shrink([None, None, None, (0, half)]), xr.shrink([None, None, None, (half, rot)])
    r1 = x1 * cos - x2 * sin
    r2 = x2 * cos + x1 * sin
    if interleaved:
        out = Tensor.stack([r1, r2], -1).reshape(xr.shape)
    else:
        out = Tensor.cat([r1, r2], -1)
    if rot < hs:
        out = Tensor.cat([out, rest], -1)
    if rank == 4:
        return out.permute(0, 2, 1, 3)
    return out.reshape(x.shape)


# ---------------------------------------------------------------------------------------------- losses
def _nll(logp: Tensor, target: Tensor, weight: Tensor | None, attrs: Attrs) -> Tensor:
    """NegativeLogLikelihoodLoss of log-probabilities (N, C, d...) at integer targets (N, d...)."""
    red = attrs.get("reduction", "mean")
    ign = attrs.get("ignore_index")
    t = target.cast(dtypes.int64)
    c = logp.shape[1]
    keep = None if ign is None else (t != _full(t, ign))
    safe = t if keep is None else keep.where(t, _full(t, 0))
    safe = safe.clip(_full(safe, 0), _full(safe, c - 1))
    picked = -logp.gather(1, safe.unsqueeze(1)).squeeze(1)
    w = None
    if weight is not None:
        w = weight[safe]
    if keep is not None:
        kw = keep.cast(logp.dtype)
        w = kw if w is None else w * kw
    loss = picked if w is None else picked * w
    if red == "none":
        return loss
    if red == "sum":
        return loss.sum()
    if red != "mean":
        raise ValueError(f"unknown reduction {red!r}")
    if w is None:
        return loss.mean()
    return loss.sum() / w.sum()


@op("NegativeLogLikelihoodLoss")
def _nll_loss(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    return _nll(inp[0], inp[1], _opt(inp, 2), attrs)


@op("SoftmaxCrossEntropyLoss")
def _sce_loss(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    x = inp[0]
    logp = x.log_softmax(1)
    return [_nll(logp, inp[1], _opt(inp, 2), attrs), logp]




# ---------------------------------------------------------------------------------------------- small layers
@op("SwiGLU")
def _swiglu(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    a, b = inp[0], inp[1]
    if a.shape != b.shape:
        raise ValueError(f"A {a.shape} and B {b.shape} must have the same shape")
    return a * (a * attrs.get("alpha", 1.0)).sigmoid() * b


@op("CenterCropPad")
def _center_crop_pad(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    shape = _ints(inp[1]) or []
    axes = [_ax(a, x.ndim) for a in attrs.get("axes") or range(x.ndim)]
    if len(axes) != len(shape):
        raise ValueError(f"shape {shape} does not give one size per axis {axes}")
    crop: list[Any] = [None] * x.ndim
    pad = [(0, 0)] * x.ndim
    for a, want in zip(axes, shape):
        have = x.shape[a]
        if want < have:  # the extra element of an odd difference is cut at the end
            start = (have - want) // 2
            crop[a] = (start, start + want)
        elif want > have:
            before = (want - have) // 2
            pad[a] = (before, want - have - before)
    return x.shrink(crop).pad(pad)


@op("ReverseSequence")
def _reverse_sequence(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, lens = inp[0], inp[1].cast(dtypes.int64)
    ta, ba = _ax(attrs.get("time_axis", 0), x.ndim), _ax(attrs.get("batch_axis", 1), x.ndim)
    nt = x.shape[ta]
    t = Tensor.arange(nt, dtype=dtypes.int64, device=x.device).reshape(tuple(nt if i == ta else 1
                                                                            for i in range(x.ndim)))
    ln = lens.reshape(tuple(-1 if i == ba else 1 for i in range(x.ndim)))
    src = (t < ln).where(ln - t - 1, t)
    return x.gather(ta, src.broadcast_to(x.shape))


def _window(kind: str) -> Any:
    def handler(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
        size = int(_scalar(inp[0]))
        dt = engine_dtype(attrs.get("output_datatype", 1), "output_datatype")
        n = size if attrs.get("periodic", 1) else size - 1
        i = Tensor.arange(size, dtype=dtypes.float64, device=node.device)
        if n == 0:  # one point, symmetric: the spec's formula divides 0 by 0 (NaN, as onnxruntime and onnx.reference)
            return (i * math.nan).cast(dt)
        if kind == "hann":
            w = (i * (math.pi / n)).sin().square()
        elif kind == "hamming":
            w = -(i * (2 * math.pi / n)).cos() * (21 / 46) + 25 / 46
        else:
            w = -(i * (2 * math.pi / n)).cos() * 0.5 + (i * (4 * math.pi / n)).cos() * 0.08 + 0.42
        return w.cast(dt)
    return handler


OPS["HannWindow"] = _window("hann")
OPS["HammingWindow"] = _window("hamming")
OPS["BlackmanWindow"] = _window("blackman")


@op("AffineGrid")
def _affine_grid(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    theta = inp[0]
    size = _ints(inp[1]) or []
    spatial = size[2:]
    dt, dev = theta.dtype, theta.device
    align = attrs.get("align_corners", 0)

    def axis_coords(n: int) -> Tensor:
        i = Tensor.arange(n, dtype=dt, device=dev)
        if align:
            return i * (2.0 / (n - 1)) - 1.0 if n > 1 else i * 0.0
        return (i * 2.0 + 1.0) / float(n) - 1.0

    nd = len(spatial)  # the grid's last axis lists x (innermost) first
    coords = []
    for j in range(nd - 1, -1, -1):
        c = axis_coords(spatial[j]).reshape(tuple(spatial[j] if k == j else 1 for k in range(nd)))
        coords.append(c.broadcast_to(tuple(spatial)))
    coords.append(Tensor.ones(tuple(spatial), dt, dev))
    base = Tensor.stack(coords, -1).reshape(-1, nd + 1)  # (P, nd+1)
    out = base.matmul(theta.transpose(1, 2))  # (N, P, nd)
    return out.reshape((theta.shape[0],) + tuple(spatial) + (nd,))


# ---------------------------------------------------------------------------------------------- recurrent layers
def _activation(name: str, alpha: float | None, beta: float | None) -> Any:
    """The named activation of RNN/GRU/LSTM, with its alpha/beta (or the spec's defaults)."""
    n = name.lower()
    if n == "sigmoid":
        return lambda x: x.sigmoid()
    if n == "tanh":
        return lambda x: x.tanh()
    if n == "relu":
        return lambda x: x.relu()
    if n == "leakyrelu":
        a = 0.01 if alpha is None else alpha
        return lambda x: (x < 0).where(x * a, x)
    if n == "thresholdedrelu":
        a = 1.0 if alpha is None else alpha
        return lambda x: (x > a).where(x, _full(x, 0))
    if n == "scaledtanh":
        a, b = (1.0 if alpha is None else alpha), (1.0 if beta is None else beta)
        return lambda x: (x * b).tanh() * a
    if n == "hardsigmoid":
        a, b = (0.2 if alpha is None else alpha), (0.5 if beta is None else beta)
        return lambda x: (x * a + b).clip(_full(x, 0), _full(x, 1))
    if n == "elu":
        a = 1.0 if alpha is None else alpha
        return lambda x: (x < 0).where((x.exp() - 1) * a, x)
    if n == "softsign":
        return lambda x: x / (x.abs() + 1)
    if n == "softplus":
        return lambda x: x.softplus()
    if n == "affine":
        a, b = (1.0 if alpha is None else alpha), (0.0 if beta is None else beta)
        return lambda x: x * a + b
    raise ValueError(f"unknown activation {name!r}")


_TAKE_ALPHA = frozenset({"leakyrelu", "thresholdedrelu", "scaledtanh", "hardsigmoid", "elu", "affine"})
_TAKE_BETA = frozenset({"scaledtanh", "hardsigmoid", "affine"})


def _params(acts: list[str], values: list[float], takers: frozenset[str]) -> list[float | None]:
    """Each activation's alpha (or beta): the listed values are consumed in the order of the activations, only by
    the functions that take one (as onnxruntime); a function past the end of the list gets None (its operator's
    default, as the spec says)."""
    it = iter(values)
    return [next(it, None) if a.lower() in takers else None for a in acts]


_GATES = {"RNN": (1, ["Tanh"]), "GRU": (3, ["Sigmoid", "Tanh"]), "LSTM": (4, ["Sigmoid", "Tanh", "Tanh"])}


@op("RNN", "GRU", "LSTM")
def _recurrent(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor | None]:
    kind = node.op_type
    ngates, default_acts = _GATES[kind]
    x, w, r = inp[0], inp[1], inp[2]
    b, lens, h0 = _opt(inp, 3), _opt(inp, 4), _opt(inp, 5)
    c0, peep = (_opt(inp, 6), _opt(inp, 7)) if kind == "LSTM" else (None, None)
    layout = attrs.get("layout", 0)
    if layout:
        x = x.transpose(0, 1)
        h0 = None if h0 is None else h0.transpose(0, 1)
        c0 = None if c0 is None else c0.transpose(0, 1)
    steps, batch = x.shape[0], x.shape[1]
    nd, hs = w.shape[0], r.shape[-1]
    direction = attrs.get("direction", "forward")
    if nd != (2 if direction == "bidirectional" else 1):
        raise ValueError(f"direction {direction!r} with {nd} directions in W")
    acts = attrs.get("activations") or default_acts * nd
    alphas, betas = _params(acts, attrs.get("activation_alpha") or [], _TAKE_ALPHA), \
        _params(acts, attrs.get("activation_beta") or [], _TAKE_BETA)
    per = len(default_acts)
    clip = attrs.get("clip")
    dt, dev = x.dtype, x.device
    valid = None
    if lens is not None:
        t_idx = Tensor.arange(steps, dtype=dtypes.int64, device=dev).reshape(steps, 1, 1)
        valid = t_idx < lens.cast(dtypes.int64).reshape(1, batch, 1)  # (T, B, 1)
    ys, hs_last, cs_last = [], [], []
    for d in range(nd):
        fs = [_activation(acts[d * per + j], alphas[d * per + j], betas[d * per + j]) for j in range(per)]
        wd, rd = w[d], r[d]  # (G*H, I), (G*H, H)
        bias_w = b[d, : ngates * hs] if b is not None else None
        bias_r = b[d, ngates * hs:] if b is not None else None
        h = h0[d] if h0 is not None else Tensor.zeros((batch, hs), dt, dev)
        c = c0[d] if c0 is not None else Tensor.zeros((batch, hs), dt, dev)
        xw = x.reshape(steps * batch, -1).matmul(wd.transpose(0, 1)).reshape(steps, batch, ngates * hs)
        if bias_w is not None:
            xw = xw + bias_w
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        outs: list[Tensor | None] = [None] * steps
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            gx = xw[t]

            def gate(i: int, g: Tensor) -> Tensor:
                return g[:, i * hs:(i + 1) * hs]

            def clipped(v: Tensor) -> Tensor:
                return v if clip is None else v.clip(_full(v, -clip), _full(v, clip))

            if kind == "GRU":
                hr = h.matmul(rd.transpose(0, 1))  # (B, 3H): z, r, h
                if bias_r is not None:
                    hr = hr + bias_r
                z = fs[0](clipped(gate(0, gx) + gate(0, hr)))
                rg = fs[0](clipped(gate(1, gx) + gate(1, hr)))
                if attrs.get("linear_before_reset", 0):
                    hh = fs[1](clipped(gate(2, gx) + rg * gate(2, hr)))
                else:
                    rh = (rg * h).matmul(rd[2 * hs:].transpose(0, 1))
                    if bias_r is not None:
                        rh = rh + bias_r[2 * hs:]
                    hh = fs[1](clipped(gate(2, gx) + rh))
                new_h, new_c = (-z + 1) * hh + z * h, c
            else:
                g = gx + h.matmul(rd.transpose(0, 1))
                if bias_r is not None:
                    g = g + bias_r
                if kind == "RNN":
                    new_h, new_c = fs[0](clipped(g)), c
                else:  # LSTM gates i, o, f, c; peepholes i, o, f
                    pi, po, pf = (None, None, None) if peep is None else \
                        (peep[d, :hs], peep[d, hs:2 * hs], peep[d, 2 * hs:])
                    gi, go, gf, gc = (gate(j, g) for j in range(4))
                    i_t = fs[0](clipped(gi if pi is None else gi + pi * c))
                    f_t = -i_t + 1 if attrs.get("input_forget", 0) else \
                        fs[0](clipped(gf if pf is None else gf + pf * c))
                    new_c = f_t * c + i_t * fs[1](clipped(gc))
                    o_t = fs[0](clipped(go if po is None else go + po * new_c))
                    new_h = o_t * fs[2](new_c)
            if valid is not None:
                new_h = valid[t].where(new_h, h)
                new_c = valid[t].where(new_c, c)
                outs[t] = valid[t].where(new_h, _full(new_h, 0))
            else:
                outs[t] = new_h
            h, c = new_h.realize(), new_c.realize()  # one step's kernels at a time: the graph stays small
        ys.append(Tensor.stack([o for o in outs if o is not None], 0))  # (T, B, H)
        hs_last.append(h)
        cs_last.append(c)
    y = Tensor.stack(ys, 1)  # (T, D, B, H)
    yh, yc = Tensor.stack(hs_last, 0), Tensor.stack(cs_last, 0)  # (D, B, H)
    if layout:
        y, yh, yc = y.permute(2, 0, 1, 3), yh.transpose(0, 1), yc.transpose(0, 1)
    return [y, yh, yc] if kind == "LSTM" else [y, yh]


# ---------------------------------------------------------------------------------------------- sampling
def _reflect(v: Tensor, lo: float, hi: float) -> Tensor:
    """Reflect coordinates by the near border until they lie in [lo, hi] (the spec's reference rule)."""
    rng = hi - lo

    def fold(dx: Tensor, near: float, far: float, sign: float) -> Tensor:
        n = (dx / rng).trunc() if rng else dx * 0
        r = dx - n * rng
        odd = (n.cast(dtypes.int64) % 2) == _full(n.cast(dtypes.int64), 1)
        return odd.where(far - sign * r, near + sign * r)

    below = fold(lo - v, lo, hi, 1.0)
    above = fold(v - hi, hi, lo, -1.0)
    return (v < lo).where(below, (v > hi).where(above, v))


def _cubic_coeffs(t: Tensor) -> list[Tensor]:
    a = -0.75

    def k(x: Tensor) -> Tensor:  # Keys' kernel for 1 <= |x| <= 2 and |x| <= 1
        return ((x * a - 5 * a) * x + 8 * a) * x - 4 * a

    def k1(x: Tensor) -> Tensor:
        return ((x * (a + 2)) - (a + 3)) * x * x + 1

    return [k(t + 1), k1(t), k1(-t + 1), k(-t + 2)]


@op("GridSample")
def _grid_sample(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x, grid = inp[0], inp[1]
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(attrs.get("mode", "linear"), attrs.get("mode", "linear"))
    pad = attrs.get("padding_mode", "zeros")
    align = attrs.get("align_corners", 0)
    nb, ch, dims = x.shape[0], x.shape[1], x.shape[2:]
    nd = len(dims)
    out = grid.shape[1:-1]
    q = math.prod(out)
    g = grid.cast(dtypes.float32).reshape(nb, q, nd)
    coords = []
    for i, d in enumerate(dims):  # the grid lists the innermost axis first
        n = g[:, :, nd - 1 - i]
        v = (n + 1) / 2.0 * (d - 1) if align else ((n + 1) * d - 1) / 2.0
        if mode == "nearest":
            v = v.round()
        lo, hi = (0.0, d - 1.0) if align else (-0.5, d - 0.5)
        if pad == "border" and mode != "cubic":  # cubic clamps only its taps (onnxruntime, torch)
            v = v.clip(_full(v, 0.0), _full(v, d - 1.0))
        elif pad == "reflection":
            v = _reflect(v, lo, hi)
        coords.append((v, lo, hi))

    def taps(v: Tensor) -> list[tuple[Tensor, Tensor | None]]:
        """(integer index, weight) pairs along one axis."""
        if mode == "nearest":
            return [(v.cast(dtypes.int64), None)]
        f = v.floor()
        t = v - f
        base = f.cast(dtypes.int64)
        if mode == "linear":
            return [(base, -t + 1), (base + 1, t)]
        return [(base + (j - 1), c) for j, c in enumerate(_cubic_coeffs(t))]

    flat = x.reshape(nb, ch, math.prod(dims))
    total: Tensor | None = None
    per_axis = [taps(v) for v, _, _ in coords]
    for combo in np.ndindex(*[len(p) for p in per_axis]):
        lin: Tensor | None = None
        weight: Tensor | None = None
        ok: Tensor | None = None
        for i, j in enumerate(combo):
            idx, w = per_axis[i][j]
            d = dims[i]
            if pad == "zeros":
                inside = (idx >= 0) & (idx < d)
                ok = inside if ok is None else ok & inside
                idx = idx.clip(_full(idx, 0), _full(idx, d - 1))
            elif pad == "border":
                idx = idx.clip(_full(idx, 0), _full(idx, d - 1))
            else:
                _, lo, hi = coords[i]
                idx = _reflect(idx.cast(dtypes.float32), lo, hi).trunc().cast(dtypes.int64)
                idx = idx.clip(_full(idx, 0), _full(idx, d - 1))
            lin = idx if lin is None else lin * d + idx
            if w is not None:
                weight = w if weight is None else weight * w
        assert lin is not None
        vals = flat.gather(2, lin.reshape(nb, 1, q).expand(nb, ch, q))
        if ok is not None:
            vals = ok.reshape(nb, 1, q).where(vals, _full(vals, 0))
        if weight is not None:
            vals = vals * weight.cast(x.dtype).reshape(nb, 1, q)
        total = vals if total is None else total + vals
    assert total is not None
    return total.reshape((nb, ch) + tuple(out))


@op("CausalConvWithState")
def _causal_conv_with_state(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    """Depthwise causal 1D convolution over [past_state | input]; the last k-1 columns are the next state."""
    x, w = inp[0], inp[1]
    bias, past = _opt(inp, 2), _opt(inp, 3)
    act = attrs.get("activation", "none")
    if act not in ("none", "silu", "swish"):
        raise ValueError(f"unknown activation {act!r}")
    if x.ndim != 3 or w.ndim != 3:
        raise ValueError(f"input and weight must be rank 3, got {x.shape} and {w.shape}")
    b, c, _ = x.shape
    k = w.shape[2]
    state = past if past is not None else Tensor.zeros((b, c, k - 1), x.dtype, x.device)
    padded = Tensor.cat([state, x], 2) if k > 1 else x
    half = x.dtype in (dtypes.float16, dtypes.bfloat16)  # accumulate in float32, round once
    f = (lambda t: t.cast(dtypes.float32)) if half else (lambda t: t)
    y = f(padded).conv2d(f(w), None if bias is None else f(bias), 1, 0, 1, c).cast(x.dtype)
    if act != "none":
        yf = y.cast(dtypes.float32)
        y = (yf * yf.sigmoid()).cast(x.dtype)
    n = padded.shape[2]
    return [y, padded.shrink([None, None, (n - (k - 1), n)])]


@op("TensorScatter")
def _tensor_scatter(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    """Write `update` into a cache along `axis` from each batch row's write index (wrapping in circular mode)."""
    cache, upd = inp[0], inp[1]
    wi = _opt(inp, 2)
    mode = attrs.get("mode", "linear")
    if mode not in ("linear", "circular"):
        raise ValueError(f"unknown mode {mode!r}")
    n = cache.ndim
    a = _ax(attrs.get("axis", -2), n)
    if a == 0:
        raise ValueError("axis must not be the batch axis")
    length, seq = cache.shape[a], upd.shape[a]
    dev = cache.device
    p = Tensor.arange(length, dtype=dtypes.int64, device=dev).reshape(tuple(length if i == a else 1 for i in range(n)))
    start = Tensor.zeros((cache.shape[0],), dtypes.int64, dev) if wi is None else wi.cast(dtypes.int64)
    j = p - start.reshape((-1,) + (1,) * (n - 1))
    if mode == "circular":
        j = j % length
    hit = (j >= 0) & (j < seq)
    idx = hit.where(j, _full(j, 0)).broadcast_to(cache.shape[:a] + (length,) + cache.shape[a + 1:])
    vals = upd.gather(a, idx)
    return hit.broadcast_to(cache.shape).where(vals, cache)


@op("Col2Im")
def _col2im(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    """Sum sliding blocks back into an image: a grouped transposed convolution with one-hot kernels."""
    x = inp[0]
    img, block = _ints(inp[1]) or [], _ints(inp[2]) or []
    nd = len(img)
    s = attrs.get("strides") or [1] * nd
    d = attrs.get("dilations") or [1] * nd
    pads = attrs.get("pads") or [0] * (2 * nd)
    k = math.prod(block)
    nb, ck, nblk = x.shape
    if ck % k:
        raise ValueError(f"input channels {ck} are not a multiple of the block size {k}")
    c = ck // k
    counts = [(i + pads[j] + pads[j + nd] - (d[j] * (b - 1) + 1)) // s[j] + 1 for j, (i, b) in enumerate(zip(img,
                                                                                                          block))]
    if math.prod(counts) != nblk:
        raise ValueError(f"{nblk} blocks do not tile image {img} with block {block}")
    w = np.zeros((c * k, 1) + tuple(block), x.dtype.np)
    for ch in range(c):
        for kk, pos in enumerate(np.ndindex(*block)):
            w[(ch * k + kk, 0) + pos] = 1
    y = x.reshape((nb, ck) + tuple(counts)).conv_transpose2d(const(w, x.device), None, s, 0, 0, d, c)
    full = [i + pads[j] + pads[j + nd] for j, i in enumerate(img)]
    y = y.pad([(0, 0), (0, 0)] + [(0, f - o) for f, o in zip(full, y.shape[2:])])
    return y.shrink([None, None] + [(pads[j], pads[j] + img[j]) for j in range(nd)])


@op("MaxUnpool")
def _max_unpool(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    """Put each pooled value at its index (flat over the inferred output, as ONNX's node tests: a larger
    output_shape pads zeros after it, where onnxruntime reads the indices in output_shape), zeros elsewhere; where
    indices repeat, the last value written there (as onnxruntime)."""
    x, ind = inp[0], inp[1].cast(dtypes.int64)
    shape = _ints(inp[2]) if len(inp) > 2 and inp[2] is not None else None
    ks = attrs["kernel_shape"]
    nd = len(ks)
    s = attrs.get("strides") or [1] * nd
    pads = attrs.get("pads") or [0] * (2 * nd)
    inferred = list(x.shape[:2]) + [(i - 1) * st + k - pads[j] - pads[j + nd]
                                    for j, (i, st, k) in enumerate(zip(x.shape[2:], s, ks))]
    nb, c = x.shape[:2]
    p_in, p_out = math.prod(x.shape[2:]), math.prod(inferred[2:])  # indices address the inferred shape
    plane = Tensor.arange(nb * c, dtype=dtypes.int64, device=x.device).reshape(nb, c, 1) * p_out
    local = ind.reshape(nb, c, p_in) - plane  # index inside its own (n, c) plane
    slots = Tensor.arange(p_out, dtype=dtypes.int64, device=x.device).reshape(1, 1, 1, p_out)
    hit = local.reshape(nb, c, p_in, 1) == slots  # (N, C, P_in, P_out)
    pos = Tensor.arange(p_in, dtype=dtypes.int64, device=x.device).reshape(1, 1, p_in, 1)
    last = hit.where(pos, _full(pos, -1)).max(2, keepdim=True)  # the last input that writes each slot
    keep = hit & (pos == last)
    out = keep.where(x.reshape(nb, c, p_in, 1), _full(x, 0)).sum(2, dtype=x.dtype).reshape(tuple(inferred))
    if shape is not None:  # a larger output_shape: zeros after the inferred block
        out = out.pad([(0, want - have) for want, have in zip(shape, inferred)])
    return out


# ---------------------------------------------------------------------------------------------- linear algebra
@op("Det")
def _det(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    """Determinants of the last two axes by Gaussian elimination with partial pivoting, unrolled over n."""
    a = inp[0]
    n = a.shape[-1]
    if a.ndim < 2 or a.shape[-2] != n:
        raise ValueError(f"Det needs square matrices, got shape {a.shape}")
    lead = a.shape[:-2]
    dev = a.device
    det = Tensor.ones(lead, a.dtype, dev)
    rows = Tensor.arange(n, dtype=dtypes.int64, device=dev)
    for k in range(n):
        below = (rows >= k).reshape((1,) * len(lead) + (n,))
        col = below.where(a[..., :, k].abs(), _full(a, -1.0))
        p = col.argmax(-1).cast(dtypes.int64)  # (lead,): the pivot row
        pk = p.unsqueeze(-1)
        swap = (rows == k).where(pk, (rows == pk).where(_full(pk, k), rows))  # exchange rows k and p
        a = a.gather(a.ndim - 2, swap.unsqueeze(-1).expand(lead + (n, n)))
        det = (p != _full(p, k)).where(-det, det)
        pivot = a[..., k, k]
        det = det * pivot
        safe = (pivot == _full(pivot, 0)).where(_full(pivot, 1), pivot)
        factor = (rows > k).reshape((1,) * len(lead) + (n,)).where(a[..., :, k] / safe.unsqueeze(-1), _full(a, 0))
        a = (a - factor.unsqueeze(-1) * a[..., k:k + 1, :]).realize()
    return det


@op("NonMaxSuppression")
def _non_max_suppression(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    """Greedy per batch and class: best score first, dropping boxes whose IoU with a kept one exceeds the threshold.
    The IoU matrix is engine code; the selection (its length depends on the values) runs on the host."""
    boxes, scores = inp[0], inp[1]
    max_out = int(_scalar(_opt(inp, 2), 0))
    iou_th = float(_scalar(_opt(inp, 3), 0.0))
    score_th = _opt(inp, 4)
    b = boxes.cast(dtypes.float32)
    if attrs.get("center_point_box", 0):  # [x_center, y_center, width, height]
        xc, yc, w, h = (b[..., i] for i in range(4))
        y1, y2, x1, x2 = yc - h / 2, yc + h / 2, xc - w / 2, xc + w / 2
    else:  # [y1, x1, y2, x2], either corner first
        ya, xa, yb, xb = (b[..., i] for i in range(4))
        y1, y2, x1, x2 = ya.minimum(yb), ya.maximum(yb), xa.minimum(xb), xa.maximum(xb)
    area = (y2 - y1) * (x2 - x1)
    ih = (y2.unsqueeze(2).minimum(y2.unsqueeze(1)) - y1.unsqueeze(2).maximum(y1.unsqueeze(1))).relu()
    iw = (x2.unsqueeze(2).minimum(x2.unsqueeze(1)) - x1.unsqueeze(2).maximum(x1.unsqueeze(1))).relu()
    inter = ih * iw
    union = area.unsqueeze(2) + area.unsqueeze(1) - inter
    iou = ((union > 0).where(inter / (union > 0).where(union, _full(union, 1.0)), _full(inter, 0.0))).numpy()
    sc = scores.numpy()
    th = None if score_th is None else float(_scalar(score_th))
    picked: list[list[int]] = []
    for bi in range(sc.shape[0]):
        for ci in range(sc.shape[1]):
            s = sc[bi, ci]
            order = [int(i) for i in np.argsort(-s, kind="stable") if th is None or s[i] > th]
            keep: list[int] = []
            for i in order:
                if len(keep) >= max_out:
                    break
                if all(iou[bi, i, j] <= iou_th for j in keep):
                    keep.append(i)
            picked.extend([bi, ci, i] for i in keep)
    return const(np.array(picked, np.int64).reshape(-1, 3), boxes.device)


def _roi_samples(roi: np.ndarray, scale: float, half_pixel: bool, h: int, w: int, ph: int, pw: int,
                 ratio: int) -> tuple[np.ndarray, np.ndarray]:
    """One region's bilinear taps: flat positions and weights, (ph*pw, samples, 4) each (the spec's rules: samples
    outside [-1, size] weigh 0, coordinates clamp at 0 and at the last row/column)."""
    off = 0.5 if half_pixel else 0.0
    x0, y0, x1, y1 = (float(v) * scale - off for v in roi[:4])
    rw, rh = x1 - x0, y1 - y0
    if not half_pixel:
        rw, rh = max(rw, 1.0), max(rh, 1.0)
    bh, bw = rh / ph, rw / pw
    gh = ratio if ratio > 0 else int(math.ceil(rh / ph))
    gw = ratio if ratio > 0 else int(math.ceil(rw / pw))
    pos = np.zeros((ph * pw, max(gh * gw, 1), 4), np.int64)
    wts = np.zeros((ph * pw, max(gh * gw, 1), 4), np.float64)
    for b_ in range(ph * pw):
        py, px = divmod(b_, pw)
        for s_ in range(gh * gw):
            iy, ix = divmod(s_, gw)
            y = y0 + py * bh + (iy + 0.5) * bh / gh
            x = x0 + px * bw + (ix + 0.5) * bw / gw
            if y < -1.0 or y > h or x < -1.0 or x > w:
                continue
            y, x = max(y, 0.0), max(x, 0.0)
            yl, xl = int(y), int(x)
            yh, xh = (yl + 1, xl + 1)
            if yl >= h - 1:
                yl = yh = h - 1
                y = float(yl)
            if xl >= w - 1:
                xl = xh = w - 1
                x = float(xl)
            ly, lx = y - yl, x - xl
            pos[b_, s_] = [yl * w + xl, yl * w + xh, yh * w + xl, yh * w + xh]
            wts[b_, s_] = [(1 - ly) * (1 - lx), (1 - ly) * lx, ly * (1 - lx), ly * lx]
    return pos, wts


@op("RoiAlign")
def _roi_align(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    """Average or max of bilinear samples in each bin of each region; the regions (static) set the taps on the
    host, the engine gathers and combines the values."""
    x, rois, bidx = inp[0], np.asarray(static(inp[1])), np.asarray(static(inp[2])).astype(np.int64)
    n, c, h, w = x.shape
    ph, pw = attrs.get("output_height", 1), attrs.get("output_width", 1)
    # RoiAlign-10 (before opset 16) has no coordinate_transformation_mode and no half-pixel shift
    half = attrs.get("coordinate_transformation_mode",
                     "half_pixel" if node.opset >= 16 else "output_half_pixel") == "half_pixel"
    taps = [_roi_samples(r, attrs.get("spatial_scale", 1.0), half, h, w, ph, pw, attrs.get("sampling_ratio", 0))
            for r in rois]
    smax = max(p.shape[1] for p, _ in taps)
    nr = len(taps)
    pos = np.zeros((nr, ph * pw, smax, 4), np.int64)
    wts = np.zeros((nr, ph * pw, smax, 4), np.float64)
    valid = np.zeros((nr, 1, ph * pw, smax), bool)
    for r, (p, wt) in enumerate(taps):
        pos[r, :, :p.shape[1]], wts[r, :, :p.shape[1]], valid[r, :, :, :p.shape[1]] = p, wt, True
    xr = x.reshape(n, c, h * w)[bidx]  # (R, C, H*W)
    idx = const(pos.reshape(nr, 1, -1), x.device).expand(nr, c, ph * pw * smax * 4)
    vals = xr.gather(2, idx).reshape(nr, c, ph * pw, smax, 4) * const(wts.astype(x.dtype.np), x.device).reshape(
        nr, 1, ph * pw, smax, 4)
    if attrs.get("mode", "avg") == "avg":
        count = np.array([max(p.shape[1], 1) for p, _ in taps], np.float64).reshape(nr, 1, 1)
        out = vals.sum((3, 4)) / const(count.astype(x.dtype.np), x.device)
    else:
        m = vals.max(4)
        out = const(valid, x.device).where(m, _full(m, -math.inf)).max(3)
    return out.reshape(nr, c, ph, pw)


@op("DeformConv")
def _deform_conv(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    """2D convolution whose taps move by learned offsets (and scale by a mask): each tap is a bilinear sample (zeros
    outside, GridSample with align_corners), then a grouped contraction with the weights."""
    x, w, off = inp[0], inp[1], inp[2]
    bias, mask = _opt(inp, 3), _opt(inp, 4)
    if x.ndim != 4:
        raise NotImplementedError("DeformConv is supported for 2D inputs")
    n, ic, ih, iw = x.shape
    oc, icpg, kh, kw = w.shape
    g, og = attrs.get("group", 1), attrs.get("offset_group", 1)
    sh, sw = attrs.get("strides") or [1, 1]
    dh, dw = attrs.get("dilations") or [1, 1]
    pt, pl = (attrs.get("pads") or [0, 0, 0, 0])[:2]
    oh, ow = off.shape[2:]
    k = kh * kw
    dt, dev = x.dtype, x.device
    o6 = off.reshape(n, og, kh, kw, 2, oh, ow)
    base_y = (np.arange(oh) * sh - pt)[None, None, :, None] + (np.arange(kh) * dh)[:, None, None, None]
    base_x = (np.arange(ow) * sw - pl)[None, None, None, :] + (np.arange(kw) * dw)[None, :, None, None]
    y = o6[:, :, :, :, 0] + const(np.broadcast_to(base_y, (kh, kw, oh, ow)).astype(dt.np), dev)
    xx = o6[:, :, :, :, 1] + const(np.broadcast_to(base_x, (kh, kw, oh, ow)).astype(dt.np), dev)
    # an axis of one pixel gets a zero row on each side: align_corners maps the whole of a 1-long axis to its one
    # pixel, so the offsets along it were ignored (onnxruntime reads the zeros around it)
    if ih == 1:
        x, y, ih = x.pad(((0, 0), (0, 0), (1, 1), (0, 0))), y + 1.0, 3
    if iw == 1:
        x, xx, iw = x.pad(((0, 0), (0, 0), (0, 0), (1, 1))), xx + 1.0, 3
    # normalized for GridSample with align_corners: (x, y) last, one row of k*oh*ow points per (batch, group)
    gy = y / float(ih - 1) * 2.0 - 1.0
    gx = xx / float(iw - 1) * 2.0 - 1.0
    grid = Tensor.stack([gx, gy], -1).reshape(n * og, 1, k * oh * ow, 2)
    xs = x.reshape(n * og, ic // og, ih, iw)
    samples = OPS["GridSample"]([xs, grid], {"mode": "linear", "padding_mode": "zeros", "align_corners": 1}, node)
    s = samples.reshape(n, og, ic // og, k, oh * ow)
    if mask is not None:
        s = s * mask.reshape(n, og, 1, k, oh * ow)
    s = s.reshape(n, g, icpg * k, oh * ow)
    wg = w.reshape(1, g, oc // g, icpg * k)
    out = matmul(wg, s).reshape(n, oc, oh, ow)
    return out if bias is None else out + bias.reshape(1, oc, 1, 1)


@op("TfIdfVectorizer")
def _tfidf_vectorizer(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    """Counts of the pool's integer n-grams in each row (n >= 2 also with 1 to max_skip_count+1 steps between
    items; unigrams once), then TF, IDF or TFIDF weighting. Each n-gram size and step is one comparison of shifted
    views against the pool's columns."""
    x = inp[0].cast(dtypes.int64)
    if attrs.get("pool_strings"):
        raise NotImplementedError("string pools are not supported")
    pool = list(attrs.get("pool_int64s") or [])
    starts = list(attrs["ngram_counts"]) + [len(pool)]
    indexes = list(attrs["ngram_indexes"])
    lo, hi, skip = attrs["min_gram_length"], attrs["max_gram_length"], attrs["max_skip_count"]
    width = max(indexes) + 1 if indexes else 0
    rows = x.reshape(1, -1) if x.ndim <= 1 else x
    b, length = rows.shape
    dev = x.device
    counts = Tensor.zeros((b, width), dtypes.float32, dev)
    gid = 0
    for n in range(1, len(starts)):
        grams = np.asarray(pool[starts[n - 1]:starts[n]], np.int64).reshape(-1, n)
        ids = indexes[gid:gid + len(grams)]
        gid += len(grams)
        if not lo <= n <= hi or not len(grams):
            continue
        to_out = np.zeros((len(grams), width), np.float32)
        to_out[np.arange(len(grams)), ids] = 1
        for d in ([1] if n == 1 else range(1, skip + 2)):
            m = length - (n - 1) * d  # the start positions
            if m <= 0:
                continue
            hit: Tensor | None = None
            for j in range(n):
                col = rows.shrink([None, (j * d, j * d + m)]).reshape(b, m, 1)
                eq = col == const(grams[:, j].reshape(1, 1, -1), dev)
                hit = eq if hit is None else hit & eq
            assert hit is not None
            counts = counts + hit.cast(dtypes.float32).sum(1).matmul(const(to_out, dev))
    mode = attrs.get("mode", "TF")
    wts = attrs.get("weights")
    w = None if not wts else const(np.asarray(wts, np.float32), dev)
    if mode == "IDF":
        out = (counts > 0).cast(dtypes.float32)
        out = out if w is None else out * w
    elif mode == "TFIDF":
        out = counts if w is None else counts * w
    else:
        out = counts
    return out.reshape(width) if x.ndim <= 1 else out
