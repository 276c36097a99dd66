"""One op table builds the edges of every space; ops reject shapes they cannot produce."""

import pytest
import torch

from searchspace import darts, nb101, nb201
from searchspace.layers import OPS, FactorizedReduce, Pooling, ReLUConvBN, Zero, make_op


@pytest.mark.parametrize("space_ops", [nb201.OP_NAMES, darts.OPS, nb101.graph.OPS], ids=["nb201", "darts", "nb101"])
def test_every_op_of_every_space_is_in_the_table(space_ops):
    missing = set(space_ops) - set(OPS)
    assert not missing, f"ops without a factory: {missing}"


SHAPE_KEEPING = set(nb101.graph.OPS)  # NAS-Bench-101's ops exist at stride 1 only


@pytest.mark.parametrize("name, stride", [(n, s) for n in sorted(OPS) for s in (1, 2) if s == 1 or n not in SHAPE_KEEPING])
def test_each_op_maps_the_input_to_the_strided_shape(name, stride):
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = make_op(name, 4, 4, stride)(x)
    assert out.shape == (2, 4, 8 // stride, 8 // stride), f"{name} at stride {stride} gave {tuple(out.shape)}"


@pytest.mark.parametrize(
    "name, module_type",
    [("none", Zero), ("skip_connect", FactorizedReduce), ("avg_pool_3x3", Pooling), ("nor_conv_3x3", ReLUConvBN)],
)
def test_width_changing_ops_give_the_new_width(name, module_type):
    op = make_op(name, 3, 5)
    assert isinstance(op, module_type), f"{name} 3->5 built {type(op).__name__}"
    assert op(torch.randn(2, 3, 6, 6)).shape == (2, 5, 6, 6), f"{name} 3->5 has the wrong output shape"


@pytest.mark.parametrize(
    "args, reason",
    [
        (("conv3x3-bn-relu", 4, 8, 1), "keeps its shape"),
        (("maxpool3x3", 4, 4, 2), "keeps its shape"),
        (("max_pool_3x3", 4, 8, 1), "keeps the width"),
        (("skip_connect", 4, 5, 2), "even output width"),
        (("skip_connect", 4, 8, 3), "stride 1 or 2"),
        (("conv_7x7", 4, 4, 1), "unknown op"),
    ],
)
def test_impossible_ops_are_refused(args, reason):
    with pytest.raises(ValueError, match=reason):
        make_op(*args)
