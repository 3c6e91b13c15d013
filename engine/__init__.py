"""uopfuzz's tensor engine: one UOp IR from tensors to kernels.

`from engine import Tensor`; `engine.schedule(*tensors)` returns the kernels that would compute them.
"""

from typing import Any

from engine.dtype import DType, dtypes
from engine.rewrite import PatternMatcher, UPat, graph_rewrite
from engine.uop import Ops, UOp

__version__ = "0.1.0"


def __getattr__(name: str):  # lazy: the tensor frontend pulls in the scheduler and codegen
    if name == "Tensor":
        from engine.tensor import Tensor

        return Tensor
    if name == "checked_indexing":
        from engine.tensor_ops.movement import checked_indexing

        return checked_indexing
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


def schedule(*tensors: Any) -> list[Any]:
    """The kernels (engine.rangeify.ScheduleItem) that would compute these tensors; nothing runs."""
    from engine.realize import schedule_tensors

    return schedule_tensors(*tensors)


__all__ = ["DType", "dtypes", "Ops", "UOp", "UPat", "PatternMatcher", "graph_rewrite", "Tensor", "schedule",
           "checked_indexing", "__version__"]
