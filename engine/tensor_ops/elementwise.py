"""Tensor methods: math functions (exp, log, sqrt, sin, ..., sigmoid, gelu, erf), clip, sign, abs, isnan, isinf, creation helpers."""

from __future__ import annotations


class ElementwiseMixin:
    """Mixed into Tensor."""

    __slots__ = ()
