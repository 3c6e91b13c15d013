"""Every public Tensor method and operator against numpy, on every device, with awkward cases.

COVERAGE maps each public name to its cases: 0-size, size-1 and 0-d tensors, non-contiguous views (transposed,
flipped, strided), long reductions, and dtypes beyond float32 (float16, bfloat16, fp8, ints, bool). A case marked
`big` runs on the compiled devices only; every name has at least one case small enough for PYTHON.
`test_coverage_table_names_every_public_method` fails when a public method has no entry here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import ml_dtypes
import numpy as np
import pytest
from devices import DEVICES  # noqa: E402
from nn_refs import conv2d_ref, conv_transpose2d_ref, pool_ref

from engine.dtype import dtypes
from engine.tensor import Tensor

BF16, E4M3 = np.dtype(ml_dtypes.bfloat16), np.dtype(ml_dtypes.float8_e4m3fn)


@dataclass
class Case:
    """eng(device, *tensors) against ref(*arrays) on `inputs`; `big` cases skip the PYTHON interpreter."""

    eng: Callable[..., Any]
    ref: Callable[..., Any]
    inputs: tuple[np.ndarray, ...] = ()
    big: bool = False


def F(shape: tuple[int, ...], dtype: Any = np.float32, lo: float = -3, hi: float = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype)


def I(shape: tuple[int, ...], dtype: Any = np.int32, lo: int = -5, hi: int = 6, seed: int = 0) -> np.ndarray:  # noqa: E743
    return np.random.default_rng(seed).integers(lo, hi, shape).astype(dtype)


def B(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, shape).astype(bool)


def nc(x: Any) -> Any:
    """A non-contiguous view (transposed, flipped, strided), the same for a Tensor and an ndarray."""
    return x.T[::-1, ::2]


def _f64(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """A reference computed in float64 and rounded to the input dtype."""
    return lambda a: np.asarray(fn(a.astype(np.float64))).astype(a.dtype)


_erf = np.vectorize(math.erf, otypes=[np.float64])
UNARY_FLOAT: dict[str, tuple[Callable, float, float]] = {
    "exp": (np.exp, -4, 4), "exp2": (np.exp2, -4, 4), "log": (np.log, 0.1, 9), "log2": (np.log2, 0.1, 9),
    "log10": (np.log10, 0.1, 9), "sqrt": (np.sqrt, 0, 9), "rsqrt": (lambda a: 1 / np.sqrt(a), 0.1, 9),
    "reciprocal": (np.reciprocal, 0.5, 3), "sin": (np.sin, -4, 4), "cos": (np.cos, -4, 4),
    "tan": (np.tan, -1.2, 1.2), "tanh": (np.tanh, -4, 4), "sigmoid": (_f64(lambda a: 1 / (1 + np.exp(-a))), -6, 6),
    "silu": (_f64(lambda a: a / (1 + np.exp(-a))), -6, 6), "softplus": (_f64(lambda a: np.logaddexp(0, a)), -6, 6),
    "erf": (_f64(_erf), -3, 3), "gelu": (_f64(lambda a: 0.5 * a * (1 + _erf(a / math.sqrt(2)))), -3, 3),
    "abs": (np.abs, -3, 3), "neg": (np.negative, -3, 3), "sign": (np.sign, -3, 3), "square": (np.square, -3, 3),
    "relu": (lambda a: np.maximum(a, 0), -3, 3), "floor": (np.floor, -3, 3), "ceil": (np.ceil, -3, 3),
    "trunc": (np.trunc, -3, 3), "round": (np.round, -3, 3), "__abs__": (np.abs, -3, 3),
    "__neg__": (np.negative, -3, 3),
}


def _unary_cases(name: str, ref: Callable, lo: float, hi: float) -> list[Case]:
    def call(t: Tensor) -> Tensor:
        return getattr(t, name)()
    return [Case(lambda d, t: call(nc(t)), lambda a: ref(nc(a)), (F((6, 5), lo=lo, hi=hi),)),
            Case(lambda d, t: call(t), ref, (F((), np.float16, lo, hi),)),
            Case(lambda d, t: call(t), ref, (F((0, 3), BF16, lo, hi),))]


def _binary_cases(op: Callable, ints: bool = True, floats: bool = True, rhs_lo: int = -5) -> list[Case]:
    cases = []
    if floats:
        cases += [Case(lambda d, a, b: op(nc(a), b), lambda a, b: op(nc(a), b), (F((6, 5)), F((1, 3), lo=0.5))),
                  Case(lambda d, a, b: op(a, b), op, (F((0, 4), np.float16), F((4,), np.float16, lo=0.5))),
                  Case(lambda d, a: op(a, 2.5), lambda a: op(a, np.float32(2.5)), (F((1, 3)),))]
    if ints:
        cases += [Case(lambda d, a, b: op(a, b), op, (I((2, 3), np.int8), I((3,), np.int16, lo=rhs_lo) | 1)),
                  Case(lambda d, a: op(a, 3), lambda a: op(a, 3), (I((), np.uint8, 0, 9),))]
    return cases


def _ln_ref(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    return ((x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + 1e-5)).astype(x.dtype)


def _ref_cat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.concatenate([a, b.astype(np.result_type(a, b))], 1)


LONG = 20000  # a long reduction (compiled devices)


def _setitem(x, index, value):
    """x[index] = value, then x (works for a Tensor and a numpy array alike)."""
    x[index] = value
    return x


COVERAGE: dict[str, list[Case]] = {name: _unary_cases(name, *spec) for name, spec in UNARY_FLOAT.items()}
COVERAGE.update({
    # ------------------------------------------------------------------ operators
    "__add__": _binary_cases(lambda a, b: a + b), "__radd__": [Case(lambda d, a: 2 + nc(a), lambda a: 2 + nc(a),
                                                                   (I((4, 6), np.int16),))],
    "__sub__": _binary_cases(lambda a, b: a - b), "__rsub__": [Case(lambda d, a: 1.5 - a, lambda a: np.float16(1.5) - a,
                                                                   (F((2, 0), np.float16),)),
                                                              Case(lambda d, a: 1.5 - a, lambda a: 1.5 - a,
                                                                   (F((3,)),))],
    "__mul__": _binary_cases(lambda a, b: a * b), "__rmul__": [Case(lambda d, a: 3 * a, lambda a: 3 * a,
                                                                   (F((1, 1), BF16),))],
    "__truediv__": _binary_cases(lambda a, b: a / b, rhs_lo=1),
    "__rtruediv__": [Case(lambda d, a: 1 / nc(a), lambda a: 1 / nc(a), (F((4, 6), lo=0.5),)),
                     Case(lambda d, a: 7 / a, lambda a: 7 / a, (I((3,), np.int8, 1, 5),))],
    "__floordiv__": _binary_cases(lambda a, b: a // b, rhs_lo=1),
    "__rfloordiv__": [Case(lambda d, a: 7 // a, lambda a: np.int64(7) // a, (I((5,), np.int64, -4, 5) | 1,))],
    "__mod__": _binary_cases(lambda a, b: a % b, rhs_lo=1),
    "__rmod__": [Case(lambda d, a: 7 % a, lambda a: np.int64(7) % a, (I((5,), np.int64, -4, 5) | 1,))],
    "__pow__": [Case(lambda d, a, b: nc(a) ** b, lambda a, b: nc(a) ** b, (F((6, 5), lo=0.5), F((5, 1)))),
                Case(lambda d, a: a ** 2, lambda a: a ** 2, (I((0,)),)),
                Case(lambda d, a: a ** 3, lambda a: a ** 3, (I((4,), np.int32),))],
    "__rpow__": [Case(lambda d, a: 2.0 ** a, lambda a: np.float32(2.0) ** a, (F((), lo=-2, hi=2),))],
    "__lt__": _binary_cases(lambda a, b: a < b), "__le__": _binary_cases(lambda a, b: a <= b),
    "__gt__": _binary_cases(lambda a, b: a > b), "__ge__": _binary_cases(lambda a, b: a >= b),
    "__eq__": _binary_cases(lambda a, b: a == b), "__ne__": _binary_cases(lambda a, b: a != b),
    "__and__": _binary_cases(lambda a, b: a & b, floats=False),
    "__or__": _binary_cases(lambda a, b: a | b, floats=False),
    "__xor__": _binary_cases(lambda a, b: a ^ b, floats=False),
    "__rand__": [Case(lambda d, a: 6 & a, lambda a: 6 & a, (I((3, 1), np.uint16, 0, 9),))],
    "__ror__": [Case(lambda d, a: True | a, lambda a: True | a, (B((0, 2)),)),
                Case(lambda d, a: 6 | a, lambda a: 6 | a, (I((3,), np.int8),))],
    "__rxor__": [Case(lambda d, a: 5 ^ nc(a), lambda a: 5 ^ nc(a), (I((4, 6), np.int64),))],
    "__lshift__": [Case(lambda d, a, b: a << b, lambda a, b: a << b, (I((2, 3), np.int32), I((3,), np.int32, 0, 8)))],
    "__rshift__": [Case(lambda d, a, b: a >> b, lambda a, b: a >> b, (I((2, 3), np.int8), I((1,), np.int8, 0, 7))),
                   Case(lambda d, a: a >> 1, lambda a: a >> 1, (I((0,), np.uint32),))],
    "__invert__": [Case(lambda d, a: ~a, lambda a: ~a, (I((3,), np.uint8, 0, 255),)),
                   Case(lambda d, a: ~nc(a), lambda a: ~nc(a), (B((4, 6)),))],
    "__matmul__": [Case(lambda d, a, b: a @ b, lambda a, b: a @ b, (F((2, 1, 3, 4)), F((5, 4, 2)))),
                   Case(lambda d, a, b: a @ b, lambda a, b: a @ b, (F((3, 0)), F((0, 2))))],
    "__rmatmul__": [Case(lambda d, b: np.ones((2, 3), np.float32) @ b, lambda b: np.ones((2, 3), np.float32) @ b,
                         (F((3,)),))],
    "__getitem__": [Case(lambda d, a: a[1, ::-2, None, ..., 1:], lambda a: a[1, ::-2, None, ..., 1:], (F((3, 5, 4)),)),
                    Case(lambda d, a, i: a[i, 1:], lambda a, i: a[i, 1:],
                         (F((4, 3), E4M3), I((2, 2), np.int64, -4, 4))),
                    Case(lambda d, a: a[()], lambda a: a[()], (I(()),)),
                    Case(lambda d, a: a[2:2], lambda a: a[2:2], (F((4,)),))],
    # ------------------------------------------------------------------ elementwise methods
    "maximum": _binary_cases(lambda a, b: a.maximum(b) if isinstance(a, Tensor) else np.maximum(a, b)) + [
        Case(lambda d, a, b: a.maximum(b), np.maximum, (np.array([-0.0, 0.0, np.nan, 1], np.float32),
                                                         np.array([0.0, -0.0, 1, np.nan], np.float32)))],
    "minimum": _binary_cases(lambda a, b: a.minimum(b) if isinstance(a, Tensor) else np.minimum(a, b)),
    "logical_and": [Case(lambda d, a, b: a.logical_and(b), np.logical_and, (I((2, 3)), B((3,))))],
    "logical_or": [Case(lambda d, a, b: nc(a).logical_or(b), lambda a, b: np.logical_or(nc(a), b),
                        (F((4, 6)), B((6, 1))))],
    "logical_xor": [Case(lambda d, a: a.logical_xor(True), lambda a: np.logical_xor(a, True), (I((0,)),)),
                    Case(lambda d, a, b: a.logical_xor(b), np.logical_xor, (B(()), I((2,))))],
    "logical_not": [Case(lambda d, a: a.logical_not(), np.logical_not, (F((2, 2), E4M3, -1, 1),))],
    "where": [Case(lambda d, c, a, b: c.where(a, b), np.where, (B((3, 1)), F((1, 4), np.float16), I((4,), np.int8))),
              Case(lambda d, c: nc(c).where(1.5, 2), lambda c: np.where(nc(c), 1.5, 2), (B((4, 6)),)),
              Case(lambda d, c, a: c.where(a, 0), lambda c, a: np.where(c, a, np.uint8(0)),
                   (B((0,)), I((0,), np.uint8)))],
    "clip": [Case(lambda d, a: nc(a).clip(-1, 1.5), lambda a: np.clip(nc(a), -1, 1.5), (F((4, 6)),)),
             Case(lambda d, a, lo: a.clip(lo, None), lambda a, lo: np.maximum(a, lo), (I((3,)), I((1,))))],
    "cast": [Case(lambda d, a: nc(a).cast(dtypes.int8), lambda a: nc(a).astype(np.int8), (F((4, 6), lo=-100, hi=100),)),
             Case(lambda d, a: a.cast(dtypes.bfloat16), lambda a: a.astype(BF16), (F((0, 2)),)),
             Case(lambda d, a: a.cast(dtypes.float8_e5m2), lambda a: a.astype(ml_dtypes.float8_e5m2),
                  (I((), np.int64),))],
    "bitcast": [Case(lambda d, a: a.bitcast(dtypes.int32), lambda a: a.view(np.int32), (F((2, 3)),)),
                Case(lambda d, a: a.bitcast(dtypes.bfloat16), lambda a: a.view(BF16), (I((3,), np.int16),))],
    "isnan": [Case(lambda d, a: a.isnan(), np.isnan, (np.array([np.nan, 1, -np.inf, 0], np.float16),)),
              Case(lambda d, a: a.isnan(), np.isnan, (I((0,)),))],
    "isinf": [Case(lambda d, a: a.isinf(), np.isinf, (np.array([np.nan, 1, -np.inf, np.inf], np.float32),)),
              Case(lambda d, a: a.isinf(), np.isinf, (I(()),))],
    "isfinite": [Case(lambda d, a: a.isfinite(), np.isfinite, (np.array([np.nan, 1, -np.inf], BF16),))],
    # ------------------------------------------------------------------ creation
    "full": [Case(lambda d: Tensor.full((2, 0, 3), 1.5, device=d), lambda: np.full((2, 0, 3), 1.5)),
             Case(lambda d: Tensor.full((), 7, dtypes.int8, d), lambda: np.full((), 7, np.int8))],
    "zeros": [Case(lambda d: Tensor.zeros((1, 3), device=d), lambda: np.zeros((1, 3), np.float32))],
    "ones": [Case(lambda d: Tensor.ones(0, dtypes.uint8, d), lambda: np.ones(0, np.uint8)),
             Case(lambda d: Tensor.ones((2, 1), dtypes.float8_e4m3fn, d), lambda: np.ones((2, 1), E4M3))],
    "empty": [Case(lambda d: Tensor.empty((2, 0), device=d).shape, lambda: (2, 0))],
    "zeros_like": [Case(lambda d, a: a.zeros_like(), np.zeros_like, (I((2, 3), np.int16),))],
    "ones_like": [Case(lambda d, a: nc(a).ones_like(), lambda a: np.ones_like(nc(a)), (F((4, 6), BF16),))],
    "full_like": [Case(lambda d, a: a.full_like(2, dtypes.float16), lambda a: np.full_like(a, 2, np.float16),
                       (B((0, 1)),))],
    "arange": [Case(lambda d: Tensor.arange(5, device=d), lambda: np.arange(5)),
               Case(lambda d: Tensor.arange(3, -4, -2.5, device=d), lambda: np.arange(3, -4, -2.5)),
               Case(lambda d: Tensor.arange(2, 2, device=d), lambda: np.arange(2, 2))],
    "linspace": [Case(lambda d: Tensor.linspace(-1, 2, 7, device=d), lambda: np.linspace(-1, 2, 7, dtype=np.float32)),
                 Case(lambda d: Tensor.linspace(3, 5, 1, device=d), lambda: np.linspace(3, 5, 1, dtype=np.float32))],
    "eye": [Case(lambda d: Tensor.eye(3, 4, k=1, device=d), lambda: np.eye(3, 4, k=1, dtype=np.float32)),
            Case(lambda d: Tensor.eye(0, device=d), lambda: np.eye(0, dtype=np.float32))],
    "rand": [Case(lambda d: Tensor.rand(2, 3, seed=5, device=d),
                  lambda: np.random.default_rng(5).random((2, 3)).astype(np.float32))],
    "randn": [Case(lambda d: Tensor.randn(4, seed=1, dtype=dtypes.float16, device=d),
                   lambda: np.random.default_rng(1).standard_normal(4).astype(np.float16))],
    "randint": [Case(lambda d: Tensor.randint(-3, 9, (2, 2), seed=3, device=d),
                     lambda: np.random.default_rng(3).integers(-3, 9, (2, 2)))],
    # ------------------------------------------------------------------ movement
    "reshape": [Case(lambda d, a: nc(a).reshape(-1, 2), lambda a: nc(a).reshape(-1, 2), (F((4, 6)),)),
                Case(lambda d, a: a.reshape(()), lambda a: a.reshape(()), (I((1, 1)),)),
                Case(lambda d, a: a.reshape(0, 5), lambda a: a.reshape(0, 5), (F((5, 0)),))],
    "permute": [Case(lambda d, a: a.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), (F((2, 1, 3), E4M3),))],
    "transpose": [Case(lambda d, a: nc(a).transpose(0, 1), lambda a: nc(a).T, (I((4, 6), np.int64),))],
    "T": [Case(lambda d, a: a.T, lambda a: a.T, (F((2, 0, 3)),))],
    "expand": [Case(lambda d, a: a.expand(2, 3, -1), lambda a: np.broadcast_to(a, (2, 3, 1)), (F((3, 1)),))],
    "broadcast_to": [Case(lambda d, a: a.broadcast_to((2, 3)), lambda a: np.broadcast_to(a, (2, 3)), (I(()),))],
    "pad": [Case(lambda d, a: nc(a).pad(((1, 0), (2, -1)), 9), lambda a: np.pad(nc(a), ((1, 0), (2, 0)),
                                                                                    constant_values=9)[:, :-1],
                 (F((4, 6)),)),
            Case(lambda d, a: a.pad(((0, 2),)), lambda a: np.pad(a, ((0, 2),)), (B((0,)),))],
    "shrink": [Case(lambda d, a: a.shrink(((1, 2), None)), lambda a: a[1:2], (F((3, 2), BF16),))],
    "flip": [Case(lambda d, a: a.flip((0, -1)), lambda a: a[::-1, ..., ::-1], (I((3, 1, 2), np.uint16, 0, 9),))],
    "contiguous": [Case(lambda d, a: nc(a).contiguous(), lambda a: nc(a), (F((4, 6), np.float64),))],
    "squeeze": [Case(lambda d, a: a.squeeze(), np.squeeze, (F((1, 3, 1)),)),
                Case(lambda d, a: a.squeeze(0), lambda a: a.squeeze(0), (F((1, 0)),))],
    "unsqueeze": [Case(lambda d, a: a.unsqueeze(-1), lambda a: a[..., None], (I(()),))],
    "flatten": [Case(lambda d, a: nc(a).flatten(), lambda a: nc(a).flatten(), (F((4, 6)),)),
                Case(lambda d, a: a.flatten(), lambda a: a.reshape(1), (F(()),))],
    "unflatten": [Case(lambda d, a: a.unflatten(1, (2, -1)), lambda a: a.reshape(2, 2, 3), (F((2, 6)),))],
    "repeat": [Case(lambda d, a: a.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3)), (I((2, 1)),))],
    "tile": [Case(lambda d, a: nc(a).tile(2), lambda a: np.tile(nc(a), 2), (F((4, 6)),)),
             Case(lambda d, a: a.tile((2, 0)), lambda a: np.tile(a, (2, 0)), (F((3,)),))],
    "cat": [Case(lambda d, a, b: Tensor.cat([a, b], 1), _ref_cat, (F((2, 3)), I((2, 0)))),
            Case(lambda d, a, b: Tensor.cat([nc(a), b], 1), lambda a, b: np.concatenate([nc(a), b], 1),
                 (F((4, 6)), F((6, 1))))],
    "stack": [Case(lambda d, a, b: Tensor.stack([a, b], -1), lambda a, b: np.stack([a, b], -1), (I(()), I(())))],
    "split": [Case(lambda d, a: a.split(2, 1), lambda a: np.split(a, [2, 4], 1), (F((2, 5)),)),
              Case(lambda d, a: a.split([0, 3]), lambda a: [a[:0], a], (F((3,)),))],
    "chunk": [Case(lambda d, a: nc(a).chunk(2), lambda a: np.array_split(nc(a), 2), (F((4, 6)),))],
    "gather": [Case(lambda d, a, i: a.gather(1, i), lambda a, i: np.take_along_axis(a, i, 1),
                    (F((3, 4)), I((3, 2), np.int64, -4, 4) % 4))],
    # ------------------------------------------------------------------ reductions
    "sum": [Case(lambda d, a: a.sum(), lambda a: a.sum(), (F((1, LONG)),), big=True),
            Case(lambda d, a: nc(a).sum((0, -1), keepdim=True), lambda a: nc(a).sum((0, -1), keepdims=True),
                 (I((4, 6, 1), np.int8),)),
            Case(lambda d, a: a.sum(0), lambda a: a.sum(0), (F((0, 3)),)),
            Case(lambda d, a: a.sum(), lambda a: a.sum(), (B((5,)),))],
    "prod": [Case(lambda d, a: a.prod(1), lambda a: a.prod(1), (I((2, 5), np.int16, -3, 4),)),
             Case(lambda d, a: a.prod(), lambda a: a.prod(), (F((0,)),))],
    "max": [Case(lambda d, a: a.max(1), lambda a: a.max(1), (F((3, LONG)),), big=True),
            Case(lambda d, a: nc(a).max(-1), lambda a: nc(a).max(-1), (I((4, 6), np.uint8, 0, 255),)),
            Case(lambda d, a: a.max(), lambda a: a.max(), (F((), E4M3),))],
    "min": [Case(lambda d, a: a.min(0, keepdim=True), lambda a: a.min(0, keepdims=True), (I((3, 2), np.uint32, 0, 9),)),
            Case(lambda d, a: a.min(), lambda a: a.min(), (B((2, 2)),))],
    "mean": [Case(lambda d, a: a.mean(), lambda a: a.mean(dtype=np.float32).astype(np.float16),
                  (F((LONG,), np.float16, 0, 1),), big=True),
             Case(lambda d, a: nc(a).mean(0), lambda a: nc(a).mean(0), (I((4, 6)),)),
             Case(lambda d, a: a.mean(1), lambda a: np.full((2,), np.nan, np.float32), (F((2, 0)),))],
    "var": [Case(lambda d, a: nc(a).var(1, ddof=1), lambda a: nc(a).var(1, ddof=1), (F((4, 6)),))],
    "std": [Case(lambda d, a: a.std(), lambda a: a.std(), (F((1,), np.float64),)),
            Case(lambda d, a: a.std(0), lambda a: a.std(0), (F((1, LONG)).T,), big=True)],
    "argmax": [Case(lambda d, a: a.argmax(1), lambda a: a.argmax(1), (I((2, LONG), np.int32, 0, 1000),), big=True),
               Case(lambda d, a: nc(a).argmax(), lambda a: nc(a).argmax(), (F((4, 6)),)),
               Case(lambda d, a: a.argmax(0, keepdim=True), lambda a: a.argmax(0, keepdims=True), (F((1, 3)),))],
    "argmin": [Case(lambda d, a: a.argmin(-1), lambda a: a.argmin(-1), (np.array([[2, np.nan, 1]], np.float32),))],
    "any": [Case(lambda d, a: a.any(1), lambda a: a.any(1), (F((3, 0)),)),
            Case(lambda d, a: nc(a).any(), lambda a: nc(a).any(), (I((4, 6), np.int8, 0, 2),))],
    "all": [Case(lambda d, a: a.all(), lambda a: a.all(), (B((0,)),)),
            Case(lambda d, a: a.all(-1, keepdim=True), lambda a: a.all(-1, keepdims=True),
                 (I((2, 3), np.int8, 0, 2),))],
    "cumsum": [Case(lambda d, a: a.cumsum(0), lambda a: a.cumsum(0), (I((700,), np.int32),), big=True),
               Case(lambda d, a: nc(a).cumsum(1), lambda a: nc(a).cumsum(1), (F((4, 6)),)),
               Case(lambda d, a: a.cumsum(), lambda a: np.cumsum(a), (I(()),))],
    "logsumexp": [Case(lambda d, a: a.logsumexp(1),
                       lambda a: np.log(np.exp(a.astype(np.float64)).sum(1)).astype(a.dtype),
                       (F((2, 7)),)),
                  Case(lambda d, a: a.logsumexp(), lambda a: a.reshape(()), (F((1,)),))],
    "softmax": [Case(lambda d, a: nc(a).softmax(0), lambda a: np.exp(nc(a)) / np.exp(nc(a)).sum(0), (F((4, 6)),)),
                Case(lambda d, a: a.softmax(), lambda a: np.ones_like(a), (F((3, 1), np.float16),))],
    "log_softmax": [Case(lambda d, a: a.log_softmax(-1), lambda a: a - np.log(np.exp(a.astype(np.float64))
                                                                             .sum(-1, keepdims=True)).astype(a.dtype),
                         (F((2, 5)),))],
    # ------------------------------------------------------------------ linear algebra and nn
    "matmul": [Case(lambda d, a, b: a.matmul(b), np.matmul, (F((4,)), F((2, 4, 3)))),
               Case(lambda d, a, b: nc(a).matmul(b), lambda a, b: nc(a) @ b, (F((4, 6)), F((2, 3)))),
               Case(lambda d, a, b: a.matmul(b), np.matmul, (F((64, 200)), F((200, 40))), big=True)],
    "dot": [Case(lambda d, a, b: a.dot(b), np.dot, (I((5,)), I((5,)))),
            Case(lambda d, a, b: a.dot(b), np.dot, (F((0,)), F((0,))))],
    "einsum": [Case(lambda d, a, b: Tensor.einsum("bij,bjk->bik", a, b), lambda a, b: np.einsum("bij,bjk->bik", a, b),
                    (F((1, 2, 3)), F((1, 3, 2)))),
               Case(lambda d, a: Tensor.einsum("ii->i", a), lambda a: np.einsum("ii->i", a), (F((3, 3)),))],
    "conv2d": [Case(lambda d, x, w, b: x.conv2d(w, b, stride=2, padding=1, groups=2),
                    lambda x, w, b: conv2d_ref(x, w, b, 2, 1, 1, 2).astype(x.dtype),
                    (F((1, 4, 5, 5)), F((4, 2, 3, 3)), F((4,)))),
               Case(lambda d, x, w, b: x.conv2d(w, b, dilation=2),
                    lambda x, w, b: conv2d_ref(x, w, b, dilation=2).astype(x.dtype),
                    (F((2, 1, 5, 6)), F((3, 1, 2, 2)), F((3,))))],
    "conv_transpose2d": [Case(lambda d, x, w: x.conv_transpose2d(w, stride=2, padding=1),
                              lambda x, w: conv_transpose2d_ref(x, w, 2, 1).astype(x.dtype),
                              (F((1, 2, 3, 3)), F((2, 3, 3, 3))))],
    "max_pool2d": [Case(lambda d, x: x.max_pool2d(2), lambda x: pool_ref(x, 2, 2, 0, np.max, -np.inf).astype(x.dtype),
                        (F((1, 2, 5, 5)),))],
    "avg_pool2d": [Case(lambda d, x: x.avg_pool2d(2), lambda x: pool_ref(x, 2, 2, 0, np.mean, 0).astype(x.dtype),
                        (F((1, 1, 4, 3)),))],
    "batchnorm": [Case(lambda d, x, m, v: x.batchnorm(m, v),
                       lambda x, m, v: ((x - m[:, None]) / np.sqrt(v[:, None] + 1e-5)).astype(x.dtype),
                       (F((2, 3, 4)), F((3,)), F((3,), lo=0.5)))],
    "layernorm": [Case(lambda d, x: x.layernorm(), _ln_ref, (F((3, 1, 8)),)),
                  Case(lambda d, x: nc(x).layernorm(), lambda x: _ln_ref(nc(x)), (F((4, 6)),))],
    "interpolate": [Case(lambda d, x: x.interpolate(scale_factor=2), lambda x: x.repeat(2, -1), (F((1, 1, 3)),)),
                    Case(lambda d, x: x.interpolate(size=3, mode="linear", align_corners=True),
                         lambda x: np.array([[[x[0, 0, 0], x[0, 0, :].mean(), x[0, 0, 1]]]], np.float32),
                         (F((1, 1, 2)),))],
    # ------------------------------------------------------------------ realization and attributes
    "realize": [Case(lambda d, a: (a + 1).realize(), lambda a: a + 1, (F((0,)),)),
                Case(lambda d, a: (a + 1).realize(), lambda a: a + 1, (I((2,), np.int8),))],
    "numpy": [Case(lambda d, a: nc(a).numpy(), nc, (F((4, 6), BF16),))],
    "tolist": [Case(lambda d, a: a.tolist(), lambda a: a.tolist(), (I((2, 0)),)),
               Case(lambda d, a: a.tolist(), lambda a: a.tolist(), (F(()),))],
    "item": [Case(lambda d, a: a.item(), lambda a: a.item(), (I((1, 1), np.uint64, 0, 9),))],
    "assign": [Case(lambda d, a: a.assign(a * 2 + 1), lambda a: a * 2 + 1, (F((2, 3)),)),
               Case(lambda d, a: a.assign(5), lambda a: np.full_like(a, 5), (I((0, 2), np.int8),))],
    "__setitem__": [Case(lambda d, a: _setitem(a, (slice(None), slice(None, None, -2)), a[:, :2] * 3),
                         lambda a: _setitem(a.copy(), (slice(None), slice(None, None, -2)), a[:, :2] * 3),
                         (F((2, 4)),)),
                    Case(lambda d, a: _setitem(a, a > 0, 0), lambda a: _setitem(a.copy(), a > 0, 0), (I((3, 5)),))],
    "to": [Case(lambda d, a: (a.to(f"{d}:1") * 2).to(d) + 1, lambda a: a * 2 + 1, (F((3, 5)),)),
           Case(lambda d, a: nc(a).to("CPU:2").sum(0), lambda a: nc(a).sum(0), (I((4, 6), np.int16),))],
    "shard": [Case(lambda d, a: (a.shard([d, f"{d}:1", f"{d}:2"], axis=1) * 3).sum(1).numpy(),
                   lambda a: (a * 3).sum(1), (F((2, 7), np.float64),)),
              Case(lambda d, a: (a.shard([d, f"{d}:1"]) + 1).numpy(), lambda a: a + 1, (I((0, 3)),))],
    "numel": [Case(lambda d, a: a.numel(), lambda a: a.size, (F((2, 0, 3)),))],
    "ndim": [Case(lambda d, a: a.ndim, lambda a: a.ndim, (F(()),))],
    "shape": [Case(lambda d, a: nc(a).shape, lambda a: nc(a).shape, (F((4, 6)),))],
    "dtype": [Case(lambda d, a: a.dtype.np, lambda a: a.dtype, (F((1,), E4M3),))],
    "device": [Case(lambda d, a: a.device == d, lambda a: True, (F((1,)),))],
    "uop": [Case(lambda d, a: a.uop.dtype.np, lambda a: a.dtype, (I((2,)),))],
    "__len__": [Case(lambda d, a: len(a), len, (F((0, 2)),))],
})
# a binary case of numpy's (maximum, minimum, dot) never reaches Tensor's method when both operands are ndarrays:
# the ref lambdas above dispatch on type


def _tol(dt: np.dtype) -> tuple[float, float]:
    if dt in (np.dtype(np.float16), BF16, E4M3, np.dtype(ml_dtypes.float8_e5m2)):
        return 1e-2, 1e-2
    if dt == np.float32:
        return 2e-5, 2e-5
    return 1e-11, 1e-11


def _check(got: Any, want: Any, name: str) -> None:
    if isinstance(got, list):
        assert isinstance(want, list) and len(got) == len(want), name
        for g, w in zip(got, want):
            _check(g, w, name)
        return
    if isinstance(got, Tensor):
        got = got.numpy()
    if not isinstance(got, np.ndarray):
        assert type(got) is type(want) and got == want, (name, got, want)
        return
    want = np.asarray(want)
    assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
    assert got.shape == want.shape, (name, got.shape, want.shape)
    if got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=name)
    else:
        rtol, atol = _tol(got.dtype)
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol, err_msg=name)


def _params() -> list[Any]:
    out = []
    for name in sorted(COVERAGE):
        for device in DEVICES:
            cases = [c for c in COVERAGE[name] if not (c.big and device == "PYTHON")]
            out.append(pytest.param(name, device, cases, id=f"{name}-{device}"))
    return out


@pytest.mark.parametrize("name, device, cases", _params())
def test_api_function_matches_numpy(name: str, device: str, cases: list[Case]) -> None:
    for k, case in enumerate(cases):
        with np.errstate(all="ignore"):
            want = case.ref(*[a.copy() for a in case.inputs])
            got = case.eng(device, *[Tensor(a, device=device) for a in case.inputs])
        _check(got, want, f"{name} case {k}")


def _public_api() -> set[str]:
    """Public names and operator dunders defined by Tensor and its mixins."""
    defined = {n for cls in Tensor.__mro__ if cls is not object for n in vars(cls)}
    internal = {"__module__", "__slots__", "__weakref__", "__array_ufunc__", "__bool__", "__hash__", "__init__",
                "__repr__", "__doc__", "__annotations__", "__dict__", "__firstlineno__", "__static_attributes__"}
    return {n for n in defined if not n.startswith("_") or (n.startswith("__") and n.endswith("__"))} - internal


def test_coverage_table_names_every_public_method() -> None:
    missing = _public_api() - set(COVERAGE)
    assert not missing, f"public Tensor API without a coverage case: {sorted(missing)}"
    stale = set(COVERAGE) - _public_api()
    assert not stale, f"coverage cases for names Tensor does not have: {sorted(stale)}"
    for name, cases in COVERAGE.items():
        assert any(not c.big for c in cases), f"{name}: no case small enough for the PYTHON device"


def test_bool_of_a_tensor_is_an_error() -> None:
    with pytest.raises(TypeError, match="ambiguous"):
        bool(Tensor([1, 2]))
