"""Tensor methods: indexing (__getitem__), squeeze, unsqueeze, flatten, unflatten, transpose, repeat, tile, cat, stack, split, chunk, gather."""

from __future__ import annotations


class MovementMixin:
    """Mixed into Tensor."""

    __slots__ = ()
