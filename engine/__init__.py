"""uopfuzz's tensor engine: one UOp IR from tensors to kernels."""

from engine.dtype import DType, dtypes
from engine.rewrite import PatternMatcher, UPat, graph_rewrite
from engine.uop import Ops, UOp

__version__ = "0.1.0"
__all__ = ["DType", "dtypes", "Ops", "UOp", "UPat", "PatternMatcher", "graph_rewrite", "__version__"]
