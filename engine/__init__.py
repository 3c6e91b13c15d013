"""uopfuzz's tensor engine: one UOp IR from tensors to kernels.

`from engine import Tensor`; `engine.schedule(*tensors)` returns the kernels that would compute them.
"""

from engine.dtype import DType, dtypes
from engine.rewrite import PatternMatcher, UPat, graph_rewrite
from engine.uop import Ops, UOp

__version__ = "0.1.0"


def __getattr__(name: str):  # lazy: the tensor frontend pulls in the scheduler and codegen
    if name == "Tensor":
        from engine.tensor import Tensor

        return Tensor
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


from engine import schedule  # noqa: E402  (a callable module: engine.schedule(*tensors) lists the kernels)

__all__ = ["DType", "dtypes", "Ops", "UOp", "UPat", "PatternMatcher", "graph_rewrite", "Tensor", "schedule",
           "__version__"]
