"""The caches and shortcuts that make the graph fuzzer fast must never keep memory alive for good, and must never
hand back code that a changed renderer or compiler setting would have made differently."""

from __future__ import annotations

import gc

import numpy as np

from engine import Tensor
from engine.tensor import REALIZED


def test_realizing_a_realized_tensor_leaves_no_immortal_entry():
    # a buffer view mapped to itself in the weak REALIZED map was held by its own value: never freed, and every
    # later realize copied the ever-growing map (the graph fuzzer slowed down case after case)
    before = len(REALIZED)
    t = (Tensor(np.arange(6, dtype=np.float32)) + 1).realize()
    t.realize()
    t.numpy()
    assert all(k is not v for k, v in REALIZED.items())
    del t
    gc.collect()
    assert len(REALIZED) <= before
