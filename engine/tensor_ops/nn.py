"""Tensor methods: matmul, dot, einsum, conv2d, conv_transpose2d, pooling, batchnorm, layernorm, interpolate."""

from __future__ import annotations


class NNMixin:
    """Mixed into Tensor."""

    __slots__ = ()
