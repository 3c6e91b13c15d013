"""Random ONNX cases drawn from the op table (fuzz.onnx.ops): an opset, then 1..N nodes, each sampled by its
op's spec against the values built so far (graph inputs, initializers, earlier nodes), then the outputs (every
value no node reads, plus now and then one that is read). Same rng state, same case.

Values carry three facts the samplers ask for: `positive` (drawn from 0.25..4: what Log, Sqrt, Reciprocal, a
divisor and a Pow base with a real exponent need), `nonzero` (random floats never exactly 0: a Pow base of either sign
with an integral exponent, possibly negative) and `exact` (graph inputs and initializers, and what movement and
selection ops make of them). A value with a dimension that depends on the values (NonZero's count, -1) is never
read by another node. An op whose result a rounding error could flip (ArgMax, Floor, comparisons, float->int Cast:
`OpSpec.discrete`) only reads exact values, so the engine and onnxruntime see bit-equal operands there.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

from fuzz.onnx import table
from fuzz.onnx.case import infer_types, newest_opset
from fuzz.onnx.ops import FLOATS, TT, Ctx, OpSpec, Shape, broadcast, known
from fuzz.onnx.table import OPS

# ops whose result is bit-exact given exact inputs (movement, selection, sign flips): exactness flows through
EXACT_OPS = frozenset({
    "Identity", "Abs", "Neg", "Relu", "Max", "Min", "Where", "Transpose", "Reshape", "Flatten", "Squeeze",
    "Unsqueeze", "Concat", "Split", "Slice", "Pad", "Tile", "Expand", "Gather", "GatherElements", "DepthToSpace",
    "SpaceToDepth", "Trilu", "Shape", "Size", "Not", "And", "Or", "Xor", "Equal", "Less", "Greater",
    "LessOrEqual", "GreaterOrEqual", "IsNaN", "IsInf", "Sign", "Floor", "Ceil", "Round", "ArgMax", "ArgMin",
    "ReduceMax", "ReduceMin", "MaxPool", "GlobalMaxPool", "Hardmax", "ConstantOfShape", "NonZero", "QuantizeLinear",
}) | table.EXACT
WEIGHTS: dict[str, float] = {  # how often an op is drawn relative to 1.0 (the structured ones break importers)
    "Conv": 4, "ConvTranspose": 3, "MaxPool": 3, "AveragePool": 3, "Gemm": 3, "MatMul": 3, "Pad": 3, "Slice": 3,
    "Softmax": 2, "LogSoftmax": 1.5, "Reshape": 2, "Transpose": 2, "Concat": 2, "Split": 2, "Gather": 2,
    "LayerNormalization": 2, "BatchNormalization": 1.5, "Expand": 1.5, "CumSum": 1.5, "ReduceSum": 1.5,
    "ReduceMean": 1.5, "Add": 2, "Mul": 2,
}
DIMS = (1, 2, 3, 4, 5, 7, 8)
TIE_RATE = 0.25  # a discrete op's fresh input drawn from a grid (integers or halves): ties, .5 roundings
WIDE_RATE = 0.1  # float inputs of magnitudes up to ~300 (fuzz.onnx.case.make_values' "wide"); the rest normal


class Draw:
    """The state a sampler draws against: value types, constant data, which values are positive or exact."""

    def __init__(self, rng: random.Random, opset: int, max_numel: int = 2048) -> None:
        self.rng, self.opset, self.max_numel = rng, opset, max_numel
        self.types: dict[str, TT] = {}
        self.consts: dict[str, list[Any]] = {}
        self.positive: set[str] = set()
        self.nonzero: set[str] = set()
        self.exact: set[str] = set()
        self.wide: set[str] = set()  # wide inputs and every value computed from one
        self.inputs: list[dict[str, Any]] = []
        self.inits: list[dict[str, Any]] = []
        self.order: list[str] = []  # values in creation order (recent ones are picked more often)
        self.need_exact = False  # set while a discrete op samples
        self._n = 0

    # ------------------------------------------------------------------ fresh values
    def _name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def _add(self, name: str, t: TT, positive: bool, exact: bool, nonzero: bool = False, wide: bool = False) -> str:
        self.types[name] = (tuple(t[0]), t[1])
        if wide:
            self.wide.add(name)
        self.order.append(name)
        if positive:
            self.positive.add(name)
        if nonzero or positive:
            self.nonzero.add(name)
        if exact:
            self.exact.add(name)
        return name

    def _domain(self, dtype: str, domain: str) -> str:
        """`domain`, or the dtype's default; a float value drawn without one is wide for WIDE_RATE of them."""
        if domain:
            return domain
        if dtype in FLOATS and self.rng.random() < WIDE_RATE:
            return "wide"
        return default_domain(dtype)

    def new_value(self, shape: Shape, dtype: str, domain: str = "") -> str:
        """A new graph input."""
        domain = self._domain(dtype, domain)
        name = self._name("in")
        self.inputs.append({"name": name, "shape": list(shape), "dtype": dtype, "seed": self.rng.getrandbits(31),
                            "domain": domain})
        return self._add(name, (shape, dtype), domain == "positive", True, _nonzero_domain(dtype, domain),
                         domain == "wide")

    def new_weight(self, shape: Shape, dtype: str, domain: str = "") -> str:
        """A new initializer with random values."""
        domain = self._domain(dtype, domain)
        name = self._name("w")
        self.inits.append({"name": name, "shape": list(shape), "dtype": dtype, "seed": self.rng.getrandbits(31),
                           "domain": domain})
        return self._add(name, (shape, dtype), domain == "positive", True, _nonzero_domain(dtype, domain),
                         domain == "wide")

    def operand(self, shape: Shape, dtype: str, domain: str = "") -> str:
        """A new graph input or initializer of this type."""
        return (self.new_weight if self.rng.random() < 0.4 else self.new_value)(shape, dtype, domain)

    def const(self, values: Any, shape: Shape | None = None) -> str:
        """A constant int64 initializer holding `values` (a list, or one int with shape ())."""
        data = list(values) if isinstance(values, (list, tuple)) else [values]
        shape = (len(data),) if shape is None else shape
        name = self._name("c")
        self.inits.append({"name": name, "shape": list(shape), "dtype": "int64", "data": [int(v) for v in data]})
        self.consts[name] = [int(v) for v in data]
        return self._add(name, (shape, "int64"), False, True)

    def data(self, values: list[Any], dtype: str, shape: Shape | None = None) -> str:
        """A constant initializer of `dtype` holding `values` (1-D unless `shape` is given); `infer` reads them."""
        name = self._name("k")
        shape = (len(values),) if shape is None else tuple(shape)
        self.inits.append({"name": name, "shape": list(shape), "dtype": dtype, "data": list(values)})
        self.consts[name] = list(values)
        return self._add(name, (shape, dtype), False, True)

    def scalar(self, value: float, dtype: str) -> str:
        """A constant scalar initializer of `dtype` (`infer` reads it too)."""
        name = self._name("s")
        self.inits.append({"name": name, "shape": [], "dtype": dtype, "data": [value]})
        self.consts[name] = [value]
        return self._add(name, ((), dtype), value > 0, True, value != 0)

    # ------------------------------------------------------------------ shapes
    def dim(self) -> int:
        return self.rng.choice(DIMS)

    def shape(self, rank: int | None = None) -> Shape:
        rank = self.rng.choice((1, 2, 2, 3, 3, 4)) if rank is None else rank
        for _ in range(8):
            s = tuple(self.dim() for _ in range(rank))
            if math.prod(s) <= self.max_numel // 4:
                return s
        return (1,) * rank

    def long_shape(self) -> Shape:
        """A random shape of 64..max_numel // 4 elements (rank 1..4): long reductions."""
        return self.factor_shape(self.rng.randint(64, self.max_numel // 4))

    def image_shape(self) -> Shape:
        nd = self.rng.choice((1, 2, 2, 2))
        return (self.rng.choice((1, 1, 2)), self.rng.choice((1, 2, 3, 4)),
                *(self.rng.choice((3, 4, 5, 6, 7, 8)) for _ in range(nd)))

    def sub_shape(self, shape: Shape) -> Shape:
        """A shape that broadcasts to `shape`: leading dims dropped, some dims set to 1."""
        drop = self.rng.randint(0, len(shape)) if self.rng.random() < 0.3 else 0
        return tuple(1 if self.rng.random() < 0.25 else n for n in shape[drop:])

    def factor_shape(self, n: int) -> Shape:
        """A random shape with n elements (rank 1..4)."""
        dims: list[int] = []
        rest = n
        for _ in range(self.rng.randint(0, 3)):
            divs = [d for d in range(1, rest + 1) if rest % d == 0]
            d = self.rng.choice(divs)
            dims.append(d)
            rest //= d
        dims.append(rest)
        self.rng.shuffle(dims)
        return tuple(dims)

    # ------------------------------------------------------------------ picking
    def pick(self, pred: Callable[[TT], bool], positive: bool = False, fresh: bool = True, nonzero: bool = False,
             tame: bool = False) -> str | None:
        """An existing value whose type satisfies pred (recent ones first), else (if fresh) a new graph input;
        `tame`: none computed from a wide input."""
        tie = self.need_exact and fresh and self.rng.random() < TIE_RATE
        ok = [n for n in self.order if pred(self.types[n]) and (not positive or n in self.positive)
              and (not tame or n not in self.wide)
              and (not nonzero or n in self.nonzero) and (not self.need_exact or n in self.exact)
              and 0 < _numel(self.types[n][0]) <= self.max_numel and known(self.types[n][0])]
        if ok and not tie and (not fresh or self.rng.random() < 0.85):
            return ok[-1 - min(int(self.rng.expovariate(0.7)), len(ok) - 1)] if self.rng.random() < 0.8 \
                else self.rng.choice(ok)
        if not fresh:
            return None
        for _ in range(24):
            dt = self.rng.choice(("float32",) * 6 + ("float16", "float64", "int32", "int64", "bool"))
            t = (self.shape(), dt)
            if pred(t):
                if tie and dt in FLOATS and not positive:
                    return self.new_value(t[0], dt, self.rng.choice(("grid", "halves")))
                return self.new_value(t[0], dt, "positive" if positive and dt in FLOATS else
                                      "normal" if tame and dt in FLOATS else "")
        return None

    def partner(self, a: str, positive: bool = False) -> str:
        """A second operand for `a`: same dtype, a shape that broadcasts with a's (existing or new)."""
        sa, dt = self.types[a]
        if not positive and self.rng.random() < 0.4:
            ok = [n for n in self.order if n != a and self.types[n][1] == dt and known(self.types[n][0])
                  and _bcast_ok(self.types[n][0], sa) and (not self.need_exact or n in self.exact)]
            if ok:
                return self.rng.choice(ok[-6:])
        if self.rng.random() < 0.15 and 1 in sa:  # both sides broadcast: a's size-1 dims grow in the partner
            shape = tuple(self.rng.choice((1, 2, 3)) if n == 1 else 1 if self.rng.random() < 0.3 else n for n in sa)
        else:
            shape = self.sub_shape(sa) if self.rng.random() < 0.5 else sa
        if not _bcast_ok(shape, sa):
            shape = sa
        return self.operand(shape, dt, "positive" if positive else "")


def default_domain(dtype: str) -> str:
    return "bool" if dtype == "bool" else "int_small" if dtype.startswith(("int", "uint")) else "normal"


def _nonzero_domain(dtype: str, domain: str) -> bool:
    return dtype in FLOATS and domain in ("normal", "unit", "positive", "wide")  # continuous draws: never exactly 0


def _numel(shape: Shape) -> int:
    return math.prod(shape)


def _bcast_ok(a: Shape, b: Shape) -> bool:
    try:
        out = broadcast(a, b)
    except ValueError:
        return False
    return _numel(out) <= 4096


OLD_OPSET_RATE = 0.12  # cases at opset 11 or 12 (fuzz.onnx.ops.OLD_OPSETS: the ops drawn there)


def draw_opset(rng: random.Random) -> int:
    top = newest_opset()
    if rng.random() < OLD_OPSET_RATE:
        return rng.choice((11, 12))
    return rng.choice([13, 13, *range(14, top + 1), *range(18, top + 1), top])


def gen_case(rng: random.Random, max_nodes: int = 6, ops: list[str] | None = None) -> dict[str, Any]:
    """A valid case of 1..max_nodes nodes (only the named ops if `ops`)."""
    for _ in range(20):
        case = _try_case(rng, max_nodes, ops)
        if case is not None:
            return case
    raise RuntimeError("the ONNX generator could not build a valid case in 20 tries")  # the op table is broken


def _try_case(rng: random.Random, max_nodes: int, only: list[str] | None) -> dict[str, Any] | None:
    opset = draw_opset(rng)
    d = Draw(rng, opset)
    specs = [s for s in OPS.values() if s.drawn_at(opset) and (only is None or s.name in only)]
    if not specs:
        return None  # only ops newer than this opset: draw another
    weights = [WEIGHTS.get(s.name, table.THEMED_WEIGHT if s.name in table.THEMED else 1.0) for s in specs]
    nodes: list[dict[str, Any]] = []
    target = rng.randint(1, max_nodes)
    for _ in range(target * 4):
        if len(nodes) >= target:
            break
        spec = rng.choices(specs, weights)[0]
        node = _add_node(d, spec, len(nodes))
        if node is not None:
            nodes.append(node)
    if not nodes:
        return None
    read = {i for n in nodes for i in n["inputs"]}
    made = [o for n in nodes for o in n["outputs"]]
    outputs = [o for o in made if o not in read]
    if len(outputs) > 3:
        outputs = rng.sample(outputs, 3)
    extra = [o for o in made if o not in outputs]
    if extra and rng.random() < 0.2:
        outputs.append(rng.choice(extra))
    case = {"opset": opset, "inputs": d.inputs, "initializers": d.inits, "nodes": nodes, "outputs": outputs}
    from fuzz.onnx.reduce import compact

    case = compact(case)
    try:
        infer_types(case)
    except ValueError:
        return None
    return case


def _add_node(d: Draw, spec: OpSpec, k: int) -> dict[str, Any] | None:
    d.need_exact = spec.discrete
    try:
        drawn = spec.sample(d)
    except (ValueError, IndexError, ZeroDivisionError):  # a sampler that meets shapes it cannot use gives up
        drawn = None
    finally:
        d.need_exact = False
    if drawn is None:
        return None
    ins, attrs = drawn
    try:
        outs = spec.infer(Ctx(d.types, d.consts, d.opset), ins, attrs)
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    if any(_numel(s) > d.max_numel for s, _ in outs):
        return None
    names = [f"v{k}"] if len(outs) == 1 else [f"v{k}_{j}" for j in range(len(outs))]
    exact = spec.name in EXACT_OPS | {"Cast"} and all(i in d.exact for i in ins if i)
    for name, t in zip(names, outs):
        d._add(name, t, False, exact, wide=any(i in d.wide for i in ins if i))
    return {"op": spec.name, "inputs": ins, "outputs": names, "attrs": attrs}
