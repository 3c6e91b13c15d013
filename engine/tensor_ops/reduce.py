"""Tensor methods: mean, var, std, argmax, argmin, any, all, cumsum, logsumexp, softmax, log_softmax."""

from __future__ import annotations


class ReduceMixin:
    """Mixed into Tensor."""

    __slots__ = ()
