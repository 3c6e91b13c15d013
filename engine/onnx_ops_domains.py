"""ONNX ops of other domains: the optimizers of ai.onnx.preview.training (Adagrad, Adam, Momentum standard and
Nesterov, each updating n tensors at once: inputs R, T, then the n X, the n G and the n state tensors of each
kind), and the numeric ops of ai.onnx.ml that need no strings (Binarizer, ArrayFeatureExtractor, TreeEnsemble).

Registered into engine.onnx_ops.OPS (under `<domain>:<Op>`) when engine.onnx imports this module.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.dtype import dtypes
from engine.onnx_ops import OPS, Attrs, Inputs, Node, _full, _scalar, op_key
from engine.tensor import Tensor

DOMAIN = "ai.onnx.preview.training"


def _groups(inp: Inputs, kinds: int) -> tuple[float, int, list[list[Tensor]]]:
    """R, T and the inputs after them split into `kinds` groups of n."""
    n = (len(inp) - 2) // kinds
    if n * kinds != len(inp) - 2 or n == 0:
        raise ValueError(f"{len(inp) - 2} tensors after R and T do not split into {kinds} groups")
    return float(_scalar(inp[0])), int(_scalar(inp[1])), [list(inp[2 + k * n:2 + (k + 1) * n]) for k in range(kinds)]


def _adagrad(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    r, t, (xs, gs, hs) = _groups(inp, 3)
    rate = r / (1 + t * attrs.get("decay_factor", 0.0))
    eps, norm = attrs.get("epsilon", 0.0), attrs.get("norm_coefficient", 0.0)
    new_x, new_h = [], []
    for x, g, h in zip(xs, gs, hs):
        gr = x * norm + g
        h2 = h + gr * gr
        new_x.append(x - gr * rate / (h2.sqrt() + eps))
        new_h.append(h2)
    return new_x + new_h


def _adam(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    r, t, (xs, gs, vs, hs) = _groups(inp, 4)
    alpha, beta = attrs.get("alpha", 0.9), attrs.get("beta", 0.999)
    eps, norm, post = attrs.get("epsilon", 1e-6), attrs.get("norm_coefficient", 0.0), \
        attrs.get("norm_coefficient_post", 0.0)
    rate = r * math.sqrt(1 - beta ** t) / (1 - alpha ** t) if t > 0 else r
    out_x, out_v, out_h = [], [], []
    for x, g, v, h in zip(xs, gs, vs, hs):
        gr = x * norm + g
        v2 = v * alpha + gr * (1 - alpha)
        h2 = h * beta + gr * gr * (1 - beta)
        out_x.append((x - v2 / (h2.sqrt() + eps) * rate) * (1 - post))
        out_v.append(v2)
        out_h.append(h2)
    return out_x + out_v + out_h


def _momentum(inp: Inputs, attrs: Attrs, node: Node) -> list[Tensor]:
    r, t, (xs, gs, vs) = _groups(inp, 3)
    alpha, beta = attrs["alpha"], attrs["beta"] if t > 0 else 1.0
    norm, nesterov = attrs["norm_coefficient"], attrs.get("mode", "standard") == "nesterov"
    out_x, out_v = [], []
    for x, g, v in zip(xs, gs, vs):
        gr = x * norm + g
        v2 = v * alpha + gr * beta
        out_x.append(x - (gr + v2 * alpha) * r if nesterov else x - v2 * r)
        out_v.append(v2)
    return out_x + out_v


OPS[op_key(DOMAIN, "Adagrad")] = _adagrad
OPS[op_key(DOMAIN, "Adam")] = _adam
OPS[op_key(DOMAIN, "Momentum")] = _momentum


# ---------------------------------------------------------------------------------------------- ai.onnx.ml
ML = "ai.onnx.ml"


def _binarizer(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    x = inp[0]
    return (x > attrs.get("threshold", 0.0)).cast(x.dtype)


def _array_feature_extractor(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    """The given positions of the last axis (a vector gives one row)."""
    x, idx = inp[0], inp[1].cast(dtypes.int64).reshape(-1)
    out = x[..., idx]
    return out.reshape(1, -1) if x.ndim == 1 else out


OPS[op_key(ML, "Binarizer")] = _binarizer
OPS[op_key(ML, "ArrayFeatureExtractor")] = _array_feature_extractor


def _tree_ensemble(inp: Inputs, attrs: Attrs, node: Node) -> Tensor:
    """Decision trees as leaf indicators: a leaf's indicator is the AND of the decisions on its path (each one engine
    comparison of a feature column); targets aggregate the weights of the leaves reached (sum, average, min, max)."""
    x = inp[0]
    a: dict[str, Any] = {k: (np.asarray(v).reshape(-1).tolist() if not isinstance(v, (int, float, str)) else v)
                         for k, v in attrs.items()}  # tensor attributes as lists
    modes, feats, splits = a["nodes_modes"], a["nodes_featureids"], a.get("nodes_splits") or []
    tnode, fnode, tleaf, fleaf = (a["nodes_truenodeids"], a["nodes_falsenodeids"], a["nodes_trueleafs"],
                                  a["nodes_falseleafs"])
    missing = a.get("nodes_missing_value_tracks_true") or [0] * len(modes)
    members = iter(a.get("membership_values") or [])
    n_targets, agg = a["n_targets"], a.get("aggregate_function", 1)
    rows = x.shape[0]
    leaves: list[tuple[Tensor | None, int]] = []  # (indicator or None for always, leaf index)

    def decide(i: int) -> Tensor:
        col = x[:, feats[i]]
        m = modes[i]
        if m == 6:  # set membership: the values up to the next NaN
            vals = []
            while not math.isnan(v := next(members)):
                vals.append(v)
            hit = Tensor.zeros((rows,), dtypes.bool, x.device) if not vals else None
            for v in vals:
                hit = (col == v) if hit is None else hit | (col == v)
            assert hit is not None
        else:
            s = splits[i]
            hit = [col <= s, col < s, col >= s, col > s, col == s, col != s][m]
        return hit | col.isnan() if missing[i] else hit

    def walk(i: int, is_leaf: bool, path: Tensor | None) -> None:
        if is_leaf:
            leaves.append((path, i))
            return
        d = decide(i)
        walk(tnode[i], bool(tleaf[i]), d if path is None else path & d)
        nd = d.logical_not()
        walk(fnode[i], bool(fleaf[i]), nd if path is None else path & nd)

    roots = a["tree_roots"]
    for r in roots:
        walk(r, bool(tleaf[r] and fleaf[r] and tnode[r] == fnode[r]), None)
    weights, targets = a["leaf_weights"], a["leaf_targetids"]
    init = {0: 0.0, 1: 0.0, 2: float(x.dtype.max), 3: float(x.dtype.min)}[agg]
    cols = []
    for t in range(n_targets):
        acc = Tensor.full((rows,), init, x.dtype, x.device)
        for path, leaf in leaves:
            if targets[leaf] != t:
                continue
            w = Tensor.full((rows,), weights[leaf] / (len(roots) if agg == 0 else 1), x.dtype, x.device)
            reached = Tensor.full((rows,), True, dtypes.bool, x.device) if path is None else path
            if agg in (0, 1):
                acc = acc + reached.where(w, _full(w, 0.0))
            elif agg == 2:
                acc = reached.where(acc.minimum(w), acc)
            else:
                acc = reached.where(acc.maximum(w), acc)
        cols.append(acc)
    return Tensor.stack(cols, 1)


OPS[op_key(ML, "TreeEnsemble")] = _tree_ensemble
