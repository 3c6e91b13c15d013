import pickle

import pytest

from engine.dtype import dtypes
from engine.uop import PYRENDER_NAMES, Ops, UOp


def test_uops_are_interned():
    x = UOp.variable("x", 0, 10)
    assert UOp.variable("x", 0, 10) is x
    assert (x + 1) is (x + 1)
    assert (x + 1) is not (x + 2)
    assert UOp.const(dtypes.index, 3) is UOp.const(dtypes.index, 3)
    assert UOp.const(dtypes.bool, True) is not UOp.const(dtypes.index, 1)


def test_uops_are_immutable_and_pickle_to_the_same_object():
    x = UOp.variable("x", 0, 10) * 3
    assert pickle.loads(pickle.dumps(x)) is x
    assert x.replace(arg=None) is x


def test_operators_build_alu_uops():
    x, y = UOp.variable("x", 0, 10), UOp.variable("y", -3, 3)
    assert (x + y).op is Ops.ADD and (x // y).op is Ops.IDIV and (x % 4).op is Ops.MOD
    assert (x < y).dtype == dtypes.bool and (3 - x).src[0].arg == 3
    assert (x > 2).op is Ops.CMPLT and (x > 2).src[1] is x


def test_float_in_index_arithmetic_is_rejected():
    x = UOp.variable("x", 0, 10)
    with pytest.raises(TypeError, match="integer-only"):
        x + 1.5
    with pytest.raises(TypeError, match="integer-only"):
        UOp.const(dtypes.index, 2.0)
    with pytest.raises(TypeError, match="integer-only"):
        x + UOp.const(dtypes.float32, 1.0)
    with pytest.raises(TypeError):
        x / 2


@pytest.mark.parametrize("make,lo,hi", [
    (lambda x, y: x + y, -3, 13),
    (lambda x, y: x - y, -3, 13),
    (lambda x, y: x * y, -30, 30),
    (lambda x, y: -x, -10, 0),
    (lambda x, y: x // 3, 0, 3),
    (lambda x, y: x % 4, 0, 3),
    (lambda x, y: y % 2, -1, 1),
    (lambda x, y: (x + 3) % 20, 3, 13),
    (lambda x, y: y // 2, -1, 1),
    (lambda x, y: x.maximum(y), 0, 10),
    (lambda x, y: x.minimum(y), -3, 3),
    (lambda x, y: (x < 20).where(x, y), 0, 10),
])
def test_bounds(make, lo, hi):
    x, y = UOp.variable("x", 0, 10), UOp.variable("y", -3, 3)
    e = make(x, y)
    assert (e.vmin, e.vmax) == (lo, hi)


def test_bounds_are_sound_by_exhaustive_evaluation():
    from engine.symbolic import sym_infer

    x, y = UOp.variable("x", -4, 6), UOp.variable("y", 1, 3)
    for e in [x * y - 7, x // y, x % y, (x * 3 + y) % 5, (x - y).maximum(x * -1), x // (y - 4)]:
        vals = [sym_infer(e, {"x": a, "y": b}) for a in range(-4, 7) for b in range(1, 4)]
        assert e.vmin <= min(vals) and max(vals) <= e.vmax, e.render()


def test_overflowing_fixed_width_bounds_fall_back_to_the_dtype_range():
    x = UOp.variable("x", 0, 100, dtypes.int8)
    e = x * 2
    assert (e.vmin, e.vmax) == (-128, 127)


def test_comparison_bounds_decide_when_disjoint():
    x = UOp.variable("x", 0, 10)
    assert (x < 11).vmin is True and (x < 0).vmax is False
    assert ((x < 5).vmin, (x < 5).vmax) == (False, True)


def test_pyrender_rebuilds_the_same_uop():
    x, y = UOp.variable("x", -5, 5), UOp.variable("y", 0, 9)
    shared = x * 3 + y
    for e in [x, shared, (shared // 4) + (shared % 4), (x < y).where(shared, -shared), (x < 0) & (y < 3)]:
        src = e.pyrender()
        assert eval(src, dict(PYRENDER_NAMES)) is e, src
    deep = shared
    for _ in range(6):
        deep = deep * 2 + deep
    assert len(deep.pyrender()) < 4000  # shared subgraphs bound once, not repeated


def test_pyrender_of_special_args():
    u = UOp(Ops.CONST, dtypes.float32, (), float("inf"))
    assert eval(u.pyrender(), dict(PYRENDER_NAMES)) is u
    r = UOp.range(8, 0)
    assert eval(r.pyrender(), dict(PYRENDER_NAMES)) is r


def test_render_is_readable():
    x = UOp.variable("x", 0, 10)
    assert ((x * 4 + 3) // 4).render() == "(((x*4)+3)//4)"


def test_toposort_is_iterative_and_ordered():
    x = UOp.variable("x", 0, 1)
    u = x
    for _ in range(50_000):
        u = u + 1
    order = list(u.toposort)
    assert order[0] is x and order[-1] is u
    pos = {n: i for i, n in enumerate(order)}
    assert all(pos[s] < pos[n] for n in order for s in n.src)
    assert u.vmax == 50_001  # bounds are iterative too


def _random_index_graph(rng, n_nodes: int):
    """A random index DAG over variables with small and near-int64-limit bounds (shared subterms included)."""
    lim = (1 << 63) - 1
    pool = [UOp.variable("x", -7, 9), UOp.variable("y", 0, 5), UOp.variable("z", -lim // 2, lim // 3),
            UOp.variable("w", 3, 3), UOp.range(6, 0), UOp.const(dtypes.index, rng.randint(-9, 9))]
    for _ in range(n_nodes):
        a, b = rng.choice(pool), rng.choice(pool)
        c = UOp.const(dtypes.index, rng.choice([-lim - 1, -5, -1, 1, 2, 3, 7, lim]))
        pick = rng.randrange(9)
        u = [a + b, a - b, a * b, a * c, -a, a // abs(c.arg or 1), a % abs(c.arg or 1), a.maximum(b), a // b][pick]
        pool.append(u)
    return UOp.sink(*pool[-8:])


def test_inlined_bounds_and_keys_match_the_generic_rules():
    # bounds and structural keys are filled by loops that inline the common index cases; every node must get what
    # the generic per-node functions compute from its sources
    import random

    from engine.uop import _bounds, _struct_key

    rng = random.Random(5)
    checked = 0
    for _ in range(60):
        root = _random_index_graph(rng, 30)
        for s in root.src:
            s.vmin, s.key  # noqa: B018 -- fills bounds and keys below s
        for u in root.toposort:
            if u is root:
                continue
            assert u.__dict__["_mm"] == _bounds(u), u.render()
            assert u.__dict__["_key"] == _struct_key(u), u.render()
            checked += 1
    assert checked > 1500


def test_has_ops_agrees_with_op_count():
    import random

    rng = random.Random(9)
    for _ in range(40):
        root = _random_index_graph(rng, 12)
        fresh = UOp.sink(*root.src[:5])
        answers = [fresh.has_ops(k) for k in range(30)]  # before op_count caches anything
        n = fresh.op_count()
        assert answers == [n >= k for k in range(30)]


def test_negative_zero_constants_are_not_interned_as_positive_zero():
    import math

    from engine.symbolic import simplify

    pos, neg = UOp.const(dtypes.float32, 0.0), UOp.const(dtypes.float32, -0.0)
    assert pos is not neg and math.copysign(1.0, neg.arg) == -1.0
    assert UOp.const(dtypes.float32, -0.0) is neg  # still interned among themselves
    folded = simplify(UOp(Ops.NEG, dtypes.float32, (pos,)))  # the folder's -0.0 must stay negative
    assert folded.op is Ops.CONST and math.copysign(1.0, folded.arg) == -1.0
