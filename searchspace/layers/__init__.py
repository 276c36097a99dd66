"""Layers shared by every space: the op table and its blocks."""

from .ops import OPS, ConvBnRelu, DilConv, FactorizedReduce, Pooling, ReLUConvBN, SepConv, Zero, make_op

__all__ = ["OPS", "ConvBnRelu", "DilConv", "FactorizedReduce", "Pooling", "ReLUConvBN", "SepConv", "Zero", "make_op"]
