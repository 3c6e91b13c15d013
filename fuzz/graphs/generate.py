"""Random graph cases: ops drawn from the op table by weight, reading mostly recent values (deep chains) and
now and then older ones (diamonds), plus patterns that stress fusion on purpose: softmax and layernorm written
out (reduce -> expand -> reduce), a cat of reduces, a reduce over a padded, flipped or shrunk view, a reduce read
by two outputs, a select on a comparison of two loads, a masked fill reduced over the masked axis, a cast from values
at their dtype's limits, shifts and bit ops on integers with their top bits set, integer // and % with negative
operands (then a cast across widths or an integer reduce), pairs of different dtypes at their limits (the promotion
table), a reduce over a broadcast axis, and twins: a node written twice (one interned UOp in the engine), and two
readers of an input's old contents before an in-place write to it. Same rng state, same case.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from fuzz.graphs.case import MAX_NUMEL, BadCase, infer_types
from fuzz.graphs.ops import ALL_DTYPES, HALF, INTS, OPS, TT, domain_for, partner_shape, rand_shape

# how often each dtype is drawn for a fresh input (the rest of ALL_DTYPES share what is left)
DTYPE_WEIGHTS = {"float32": 30, "float16": 7, "bfloat16": 5, "float64": 7, "float8_e4m3fn": 2, "float8_e5m2": 2,
                 "int32": 10, "int64": 5, "int8": 4, "uint8": 4, "bool": 5, "int16": 2, "uint16": 1.5,
                 "uint32": 1.5, "uint64": 1.5}


class _Builder:
    """Values in creation order: ("input", spec) or ("node", op, [value indices], attrs)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.items: list[tuple] = []
        self.types: list[TT] = []
        self.sinks: list[int] = []  # values a pattern wants among the outputs

    def add_input(self, shape: tuple[int, ...], dtype: str, domain: str) -> int:
        self.items.append(("input", {"shape": list(shape), "dtype": dtype, "seed": self.rng.getrandbits(31),
                                     "domain": domain}))
        self.types.append((tuple(shape), dtype))
        return len(self.items) - 1

    def resolve(self, src: Any) -> int:
        if isinstance(src, int):
            return src
        spec = src["new"]
        return self.add_input(tuple(spec["shape"]), spec["dtype"], spec["domain"])

    def add_node(self, op: str, srcs: list[Any], attrs: dict[str, Any]) -> int | None:
        """Append a node if it type-checks (fresh inputs it asked for are kept either way: harmless)."""
        ins = [self.resolve(s) for s in srcs]
        try:
            shape, dt = OPS[op].infer([self.types[i] for i in ins], attrs)
        except (ValueError, KeyError, TypeError, IndexError):
            return None
        if _numel(shape) > MAX_NUMEL // 4:
            return None
        self.items.append(("node", op, ins, attrs))
        self.types.append((tuple(shape), dt))
        return len(self.items) - 1

    def case(self, outputs: list[int], realize: list[int], seed: int) -> dict[str, Any]:
        """Renumber: inputs first, then nodes, in creation order."""
        ids: dict[int, int] = {}
        inputs = [it[1] for it in self.items if it[0] == "input"]
        k_in = 0
        k_node = len(inputs)
        for k, it in enumerate(self.items):
            if it[0] == "input":
                ids[k], k_in = k_in, k_in + 1
            else:
                ids[k], k_node = k_node, k_node + 1
        nodes = [{"op": it[1], "in": [ids[i] for i in it[2]], "attrs": it[3]} for it in self.items if it[0] == "node"]
        return {"inputs": inputs, "nodes": nodes, "outputs": [ids[o] for o in outputs],
                "realize": [ids[r] for r in realize], "seed": seed}


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def random_dtype(rng: random.Random) -> str:
    names = list(ALL_DTYPES)
    return rng.choices(names, [DTYPE_WEIGHTS.get(n, 1) for n in names])[0]


def _fresh(b: _Builder) -> int:
    dt = random_dtype(b.rng)
    return b.add_input(rand_shape(b.rng), dt, domain_for(b.rng, dt))


def _float_input(b: _Builder, min_ndim: int = 1) -> int:
    dt = b.rng.choice(("float32", "float32", "float64", "float16", "bfloat16"))
    return b.add_input(rand_shape(b.rng, b.rng.randint(min_ndim, 3)), dt, b.rng.choice(("normal", "unit", "wide")))


def _pick_float(b: _Builder, min_ndim: int = 1) -> int:
    cands = [i for i, (s, dt) in enumerate(b.types) if dt.startswith("float") and len(s) >= min_ndim and all(s)]
    if cands and b.rng.random() < 0.6:
        return cands[-1] if b.rng.random() < 0.6 else b.rng.choice(cands)
    return _float_input(b, min_ndim)


def _softmax(b: _Builder) -> int | None:
    x = _pick_float(b)
    ax = b.rng.randrange(len(b.types[x][0]))
    m = b.add_node("max", [x], {"axis": ax, "keepdim": True})
    d = m is not None and b.add_node("sub", [x, m], {})
    e = d and b.add_node("exp", [d], {})
    s = e and b.add_node("sum", [e], {"axis": ax, "keepdim": True})
    return s and b.add_node("truediv", [e, s], {}) or None


def _layernorm(b: _Builder) -> int | None:
    x = _pick_float(b)
    ax = len(b.types[x][0]) - 1
    m = b.add_node("mean", [x], {"axis": ax, "keepdim": True})
    c = m is not None and b.add_node("sub", [x, m], {})
    sq = c and b.add_node("mul", [c, c], {})
    v = sq and b.add_node("mean", [sq], {"axis": ax, "keepdim": True})
    ve = v and b.add_node("add", [v], {"scalar": 1e-5, "reverse": False})
    r = ve and b.add_node("rsqrt", [ve], {})
    return r and b.add_node("mul", [c, r], {}) or None


def _cat_of_reduces(b: _Builder) -> int | None:
    x = _pick_float(b)
    ax = b.rng.randrange(len(b.types[x][0]))
    r1 = b.add_node(b.rng.choice(("sum", "max", "mean")), [x], {"axis": ax, "keepdim": True})
    r2 = b.add_node(b.rng.choice(("sum", "max", "min")), [x], {"axis": ax, "keepdim": True})
    if r1 is None or r2 is None:
        return None
    srcs = [r1, r2, x] if b.rng.random() < 0.5 else [r1, r2]
    return b.add_node("cat", srcs, {"axis": ax})


def _reduce_of_view(b: _Builder) -> int | None:
    x = _pick_float(b)
    s = b.types[x][0]
    view = b.rng.choice(("pad", "flip", "shrink", "slice"))
    if view == "pad":
        v = b.add_node("pad", [x], {"pads": [[b.rng.randint(0, 2), b.rng.randint(0, 2)] for _ in s],
                                    "value": b.rng.choice((0, 1.5))})
    elif view == "flip":
        v = b.add_node("flip", [x], {"axes": [b.rng.randrange(len(s))]})
    elif view == "shrink":
        v = b.add_node("shrink", [x], {"bounds": [[min(1, d), d] for d in s]})
    else:
        v = b.add_node("slice", [x], {"index": [[None, None, b.rng.choice((2, -1, -2))] for _ in s]})
    if v is None:
        return None
    return b.add_node(b.rng.choice(("sum", "max", "mean", "prod")), [v],
                      {"axis": b.rng.randrange(len(b.types[v][0])), "keepdim": b.rng.random() < 0.5})


def _reduce_expand_reduce(b: _Builder) -> int | None:
    x = _pick_float(b, 2)
    ax = b.rng.randrange(len(b.types[x][0]))
    r = b.add_node("sum", [x], {"axis": ax, "keepdim": True})
    m = r is not None and b.add_node("mul", [x, r], {})
    return m and b.add_node(b.rng.choice(("sum", "max")), [m], {"axis": b.rng.randrange(len(b.types[m][0])),
                                                                 "keepdim": False}) or None


def _diamond(b: _Builder) -> int | None:
    x = _pick_float(b)
    u = b.add_node(b.rng.choice(("exp", "neg", "square", "sigmoid")), [x], {})
    v = b.add_node(b.rng.choice(("sum", "max")), [x], {"axis": len(b.types[x][0]) - 1, "keepdim": True})
    if u is None or v is None:
        return None
    return b.add_node(b.rng.choice(("add", "mul", "sub")), [u, v], {})


def _reduce_of_broadcast(b: _Builder) -> int | None:
    """A reduce over an axis the value was broadcast along (a gradient's sum over broadcast dims, an outer product
    summed): every step of that loop reads the same element, so unrolled lanes or accumulators are identical."""
    x = _pick_float(b) if b.rng.random() < 0.7 else _fresh(b)
    s = b.types[x][0]
    ax = b.rng.randint(0, len(s))
    u = b.add_node("unsqueeze", [x], {"axis": ax})
    if u is None:
        return None
    n = b.rng.choice((2, 3, 4, 5, 8, 16, 33))
    e = b.add_node("expand", [u], {"shape": [n if k == ax else d for k, d in enumerate(b.types[u][0])]})
    if e is not None and b.rng.random() < 0.5:  # an outer product: the other operand varies along the axis
        other = b.add_input(tuple(n if k == ax else 1 for k in range(len(s) + 1)), b.types[e][1], "normal")
        e = b.add_node(b.rng.choice(("mul", "add")), [e, other], {})
    red = b.rng.choice(("sum", "sum", "max", "prod", "mean"))
    return e and b.add_node(red, [e], {"axis": ax, "keepdim": b.rng.random() < 0.3}) or None

def _mixed_precision_matmul(b: _Builder) -> int | None:
    """A matmul of 16-bit or 8-bit float values computed in float32 (both operands cast up: the reduce a GPU device
    runs on tensor cores), of tile-sized, ragged or tiny shapes, batched now and then, with a bias or a cast back
    down after it: the mixed-precision GEMM of a model's layers."""
    dt = b.rng.choice(("float16", *HALF))  # float16 twice
    m, n = (b.rng.choice((1, 5, 8, 16, 16, 17, 32, 33)) for _ in range(2))
    # 64 and up: a loop of whole k tiles (Opt SMEM's pipeline, its padded rows: several k tiles a row)
    k = b.rng.choice((1, 5, 8, 16, 16, 17, 32, 33, 64, 64, 96))
    batch = (b.rng.choice((2, 3)),) if b.rng.random() < 0.2 else ()
    x = b.add_input(batch + (m, k), dt, domain_for(b.rng, dt))
    y = b.add_input(batch + (k, n), dt, domain_for(b.rng, dt))
    xs = b.add_node("cast", [x], {"dtype": "float32"})
    ys = b.add_node("cast", [y], {"dtype": "float32"})
    out = xs is not None and ys is not None and b.add_node("matmul", [xs, ys], {}) or None
    if out is not None and b.rng.random() < 0.3:
        out = b.add_node("add", [out, b.add_input((n,), "float32", "normal")], {}) or out
    if out is not None and b.rng.random() < 0.3:
        out = b.add_node("cast", [out], {"dtype": dt}) or out
    return out


def _in_place(b: _Builder) -> int | None:
    """assign or __setitem__ into an input (a buffer), with a value that may read that input elsewhere."""
    inputs = [k for k, it in enumerate(b.items) if it[0] == "input" and b.types[k][1] != "dead" and b.types[k][0]
              and all(b.types[k][0])]
    if not inputs:
        return None
    k = b.rng.choice(inputs)
    shape, dt = b.types[k]
    readers = [i for i, (s, d) in enumerate(b.types) if d not in ("dead",) and i != k]
    if b.rng.random() < 0.3:
        return _mask_assign(b, k, readers)
    if b.rng.random() < 0.5:
        items = [[b.rng.choice((None, 0, 1)), b.rng.choice((None, d, d - 1)), b.rng.choice((1, 1, 2, -1))]
                 for d in shape[:b.rng.randint(1, len(shape))]]
        try:
            sel = np.empty(shape)[tuple(slice(*it) for it in items)].shape
        except (ValueError, IndexError):
            return None
        op, attrs = "setitem", {"index": items}
    else:
        sel, op, attrs = shape, "assign", {}
    old: list[int] = []
    if b.rng.random() < 0.3:  # readers of the old contents, written twice (one interned UOp in the engine, two
        op_r, attrs_r = b.rng.choice((("neg", {}), ("add", {"scalar": 1, "reverse": False}),  # tensors)
                                      ("sum", {"axis": None, "keepdim": False}), ("flip", {"axes": [0]})))
        old = [r for r in (b.add_node(op_r, [k], attrs_r) for _ in range(2)) if r is not None]
        b.sinks += old
    # the value: often computed from the target itself (a read-after-write hazard), else another value or input
    src = b.rng.choice(("self", "other", "fresh"))
    value: int | None
    if src == "self" and op == "setitem" and all(sel) and b.rng.random() < 0.6:
        # t[a:b] = t[c:d]: another window of the target, as long as the selection, forward or reversed
        win = []
        for it, d in zip(attrs["index"], shape):
            n = len(range(*slice(*it).indices(d)))
            o = b.rng.randint(0, d - n)
            win.append([o, o + n, 1] if b.rng.random() < 0.7 else [o + n - 1, o - 1 if o else None, -1])
        value = b.add_node("slice", [k], {"index": win})
    elif src == "self" and all(sel):
        flip = b.add_node("flip", [k], {"axes": [0]})
        value = None if flip is None else b.add_node("add", [flip], {"scalar": 1, "reverse": False})
    elif src == "other" and readers:
        value = b.rng.choice(readers)
    else:
        value = b.add_input(tuple(sel), dt, domain_for(b.rng, dt))
    if value is not None and b.types[value][0] != tuple(sel):
        value = b.add_node("sum", [value], {"axis": None, "keepdim": False})  # a scalar broadcasts anywhere
    if value is None:
        return None
    out = b.add_node(op, [k, value], attrs)
    if out is not None:
        b.types[k] = (b.types[k][0], "dead")  # later nodes read `out`, the same tensor after the write
        if old and b.rng.random() < 0.5:  # one kernel reads the old contents (through a reader) and the new
            both = b.add_node("add", [b.rng.choice(old), out], {})
            b.sinks += [both] if both is not None else []
    return out


def _mask_assign(b: _Builder, k: int, readers: list[int]) -> int | None:
    """t[mask] = value on input k: the mask over its leading dims, the value a scalar or one row of the rest,
    often computed from t itself."""
    shape, dt = b.types[k]
    m = b.rng.randint(1, len(shape))
    mask = b.add_input(tuple(shape[:m]), "bool", "bool")
    row = tuple(shape[m:]) if b.rng.random() < 0.5 else ()
    value: int | None
    if readers and b.rng.random() < 0.5:
        value = b.add_node("sum", [b.rng.choice(readers + [k])], {"axis": None, "keepdim": False})
    else:
        value = b.add_input(row, dt, domain_for(b.rng, dt))
    if value is None:
        return None
    out = b.add_node("setitem_mask", [k, mask, value], {})
    if out is not None:
        b.types[k] = (b.types[k][0], "dead")
    return out


def _select_by_compare(b: _Builder) -> int | None:
    """where(x < y, x, y)-like: a select whose condition compares two loaded values (a max or min written out, the
    shape of many clamps), with the arms in either order, or two other values."""
    x = _pick_float(b) if b.rng.random() < 0.7 else _fresh(b)
    shape, dt = b.types[x]
    y = b.add_input(shape if b.rng.random() < 0.7 else partner_shape(b.rng, shape), dt, domain_for(b.rng, dt))
    c = b.add_node(b.rng.choice(("lt", "le", "gt", "ge", "eq", "ne")), [x, y], {})
    if c is None:
        return None
    arms = [x, y] if b.rng.random() < 0.5 else [y, x]
    if b.rng.random() < 0.3:
        arms[b.rng.randrange(2)] = b.add_input(shape, dt, domain_for(b.rng, dt))
    return b.add_node("where", [c, *arms], {})


def _masked_reduce(b: _Builder) -> int | None:
    """A masked fill then a reduce over the masked axis (attention masks): rows where the mask keeps nothing reduce
    over the fill value alone, which is often an extreme one (NaN, +-inf, 0)."""
    x = _pick_float(b)
    shape, dt = b.types[x]
    ax = b.rng.randrange(len(shape))
    mask = b.add_input(tuple(1 if k != ax and b.rng.random() < 0.3 else d for k, d in enumerate(shape)), "bool",
                       "bool")
    fill = b.add_input((), dt, "special")
    m = b.add_node("where", [mask, x, fill], {})
    op = b.rng.choice(("max", "min", "sum", "softmax", "logsumexp", "argmax"))
    attrs: dict[str, Any] = {"axis": ax} if op == "softmax" else {"axis": ax, "keepdim": b.rng.random() < 0.5}
    return m and b.add_node(op, [m], attrs) or None


def _limit_domain(b: _Builder, dt: str) -> str:
    """A value domain of `dt` that reaches its limits: integer extremes and bit patterns; float magnitudes past other
    dtypes' ranges, NaN and +-inf, whole numbers, ties of rounding, values near the dtype's own largest one."""
    if dt == "bool":
        return "bool"
    if dt in INTS:
        return b.rng.choice(("int_edge", "int_full", "int_small"))
    return b.rng.choice(("huge", "special", "wide", "int_valued", "ties", "near_max"))


def _conversion(b: _Builder) -> int | None:
    """A value cast across dtypes from an input that reaches its dtype's limits (magnitudes past the target's range,
    NaN and +-inf, integer limits), now and then computed on in the new dtype and cast back."""
    src = random_dtype(b.rng)
    x = b.add_input(rand_shape(b.rng), src, _limit_domain(b, src))
    dst = random_dtype(b.rng)
    y = b.add_node("cast", [x], {"dtype": dst})
    if y is not None and dst != "bool" and b.rng.random() < 0.4:
        y = b.add_node(b.rng.choice(("add", "mul", "sub", "maximum")), [y, y], {})
    if y is not None and b.rng.random() < 0.3:
        y = b.add_node("cast", [y], {"dtype": src})
    return y


def _bit_twiddle(b: _Builder) -> int | None:
    """Shifts and bit ops on integers whose top bits are set (the limits of their dtype, every bit pattern)."""
    dt = b.rng.choice(INTS)
    x = b.add_input(rand_shape(b.rng), dt, b.rng.choice(("int_edge", "int_full")))
    op = b.rng.choice(("rshift", "rshift", "lshift", "and", "or", "xor"))
    if op in ("rshift", "lshift"):
        if b.rng.random() < 0.5:
            return b.add_node(op, [x], {"scalar": b.rng.randrange(8), "reverse": False})
        return b.add_node(op, [x, b.add_input(b.types[x][0], dt, "shift")], {})
    return b.add_node(op, [x, b.add_input(b.types[x][0], dt, b.rng.choice(("int_edge", "int_full")))], {})


def _int_arith(b: _Builder) -> int | None:
    """Integer arithmetic where languages disagree: // and % with a negative operand on either side (C truncates
    toward zero, numpy floors), by a tensor or a scalar; sums and products that wrap; then, half the time, a cast to
    an integer of another width or signedness (sign or zero extension, truncation) or to a float, or a sum,
    product or cumsum along an axis (the accumulator's dtype and width)."""
    dt = b.rng.choice(INTS + ("int32", "int64"))
    shape = rand_shape(b.rng)
    x = b.add_input(shape, dt, b.rng.choice(("int_small", "int_small", "int_edge", "int_full")))
    op = b.rng.choice(("floordiv", "mod", "floordiv", "mod", "mul", "add", "sub"))
    if b.rng.random() < 0.4:
        s = b.rng.choice((-8, -5, -3, -2, -1, 1, 2, 3, 7, 16))
        s = abs(s) if dt[0] == "u" else s
        y = b.add_node(op, [x], {"scalar": s, "reverse": b.rng.random() < 0.3})
    else:
        z = b.add_input(partner_shape(b.rng, shape), dt, b.rng.choice(("int_small", "int_edge")))
        y = b.add_node(op, [z, x] if b.rng.random() < 0.3 else [x, z], {})
    r = b.rng.random()
    if y is not None and r < 0.45:
        y = b.add_node("cast", [y], {"dtype": b.rng.choice(INTS + ("float32", "float64"))})
    elif y is not None and r < 0.75 and b.types[y][0]:  # the accumulator's width: numpy sums small ints in 64 bits
        ax = b.rng.randrange(len(b.types[y][0]))
        red = b.rng.choice(("sum", "sum", "prod", "cumsum"))
        y = b.add_node(red, [y], {"axis": ax} if red == "cumsum" else {"axis": ax, "keepdim": b.rng.random() < 0.5})
    return y


def _mixed_dtypes(b: _Builder) -> int | None:
    """Values of different dtypes combined, one to four pairs at once (the others become outputs too), each pair
    drawn uniformly, half of them two integers (sign and width rules: int32 with uint32 is int64), so that every
    entry of the promotion table gets used; values at their dtype's limits, where a too-narrow result type wraps."""
    outs: list[int] = []
    for _ in range(b.rng.randint(1, 4)):
        da, db = b.rng.sample(INTS if b.rng.random() < 0.5 else ALL_DTYPES, 2)
        shape = rand_shape(b.rng)
        x = b.add_input(shape, da, _limit_domain(b, da))
        y = b.add_input(partner_shape(b.rng, shape), db, _limit_domain(b, db))
        op = b.rng.choice(("add", "sub", "mul", "maximum", "minimum", "eq", "lt", "where", "cat", "truediv"))
        if op == "where":
            out = b.add_node("where", [b.add_input(shape, "bool", "bool"), x, y], {})
        elif op == "cat":
            out = b.add_node("cat", [x, b.add_input(shape, db, _limit_domain(b, db))], {"axis": 0}) if shape else None
        else:
            out = b.add_node(op, [x, y] if b.rng.random() < 0.5 else [y, x], {})
        if out is not None:
            outs.append(out)
    b.sinks += outs[1:]
    return outs[0] if outs else None


PATTERNS = (_softmax, _layernorm, _cat_of_reduces, _reduce_of_view, _reduce_expand_reduce, _diamond, _in_place,
            _select_by_compare, _masked_reduce, _conversion, _bit_twiddle, _int_arith, _mixed_dtypes,
            _reduce_of_broadcast, _mixed_precision_matmul)
# how often each is drawn: the dtype pairs (about 120 of them), integer rules and writes in place (assign and
# setitem of several forms, each with its read-after-write hazards and readers of the old contents) get more draws
PATTERN_WEIGHTS = tuple({_mixed_dtypes: 2.0, _int_arith: 1.5, _in_place: 2.0}.get(p, 1.0) for p in PATTERNS)


def gen_case(rng: random.Random, max_nodes: int = 10) -> dict[str, Any]:
    """A random valid graph case."""
    b = _Builder(rng)
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        _fresh(b)
    names = list(OPS)
    weights = [OPS[n].weight for n in names]
    target = rng.randint(1, max_nodes)
    tries = 0
    nodes: list[int] = []
    while len(nodes) < target and tries < target * 8:
        tries += 1
        if nodes and rng.random() < 0.04:  # a twin: the same op of the same values, one interned UOp in the engine
            twin = b.items[rng.choice(nodes)]
            if twin[0] == "node" and OPS[twin[1]].kind != "inplace" and all(b.types[i][1] != "dead" for i in twin[2]):
                out = b.add_node(twin[1], list(twin[2]), dict(twin[3]))
                if out is not None:
                    nodes.append(out)
            continue
        if rng.random() < 0.18:
            out = rng.choices(PATTERNS, PATTERN_WEIGHTS)[0](b)
            if out is not None:
                nodes.append(out)
            continue
        op = rng.choices(names, weights)[0]
        picked = OPS[op].sample(rng, b.types)
        if picked is None:
            continue
        srcs, attrs = picked
        out = b.add_node(op, srcs, attrs)
        if out is not None:
            nodes.append(out)
    if not nodes:
        x = _float_input(b)
        nodes.append(b.add_node("neg", [x], {}) or x)
    # the last node and up to three other nodes nothing reads (their ops are checked too, not generated in vain)
    consumed = {i for it in b.items if it[0] == "node" for i in it[2]}
    sinks = [n for n in dict.fromkeys(nodes) if n not in consumed and n != nodes[-1]]
    outputs = [nodes[-1], *rng.sample(sinks, min(len(sinks), 3))]
    outputs += [n for n in b.sinks if n not in outputs]
    for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):  # several outputs: a multi-output schedule
        cand = rng.choice(nodes)
        if cand not in outputs:
            outputs.append(cand)
    realize = [rng.choice(nodes[:-1])] if len(nodes) > 1 and rng.random() < 0.15 else []
    case = b.case(outputs, [r for r in realize if r not in outputs], rng.getrandbits(31))
    try:
        infer_types(case)
    except BadCase as e:  # the builder checked every node: this is a bug of the generator
        raise AssertionError(f"generated an invalid case: {e}") from None
    return case
