"""The Tensor API beyond the core, one mixin per family (Tensor in engine/tensor.py inherits them all)."""
