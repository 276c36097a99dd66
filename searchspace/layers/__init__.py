"""Layers shared by every space: the op table and its blocks, and bit-identical fast CPU poolings."""

from .exact_pooling import swap_in_replicas
from .ops import OPS, ConvBnRelu, DilConv, FactorizedReduce, Pooling, ReLUConvBN, SepConv, Zero, make_op

__all__ = ["OPS", "ConvBnRelu", "DilConv", "FactorizedReduce", "Pooling", "ReLUConvBN", "SepConv", "Zero", "make_op", "swap_in_replicas"]
