"""SynFlow: the synaptic flow of the network with absolute weights, in float64, on one all-ones input."""

from __future__ import annotations

import torch

from searchspace.layers.exact_conv import swap_in_grouped_conv_replicas

from ..registry import Probe, ScoreInfo, register_pass
from ..undefined import Undefined
from .common import log_or_undefined, weighted_layers

SYNFLOW = ScoreInfo(
    "synflow",
    "log of sum over conv/linear weights of |w * dR/dw|, R the output sum of the |w| network in float64 with BatchNorm off, input all ones (Tanaka et al., NeurIPS 2020; Abdelfattah et al., ICLR 2021)",
    "synflow",
    needs_backward=True,
    data_free=True,
)


@register_pass(SYNFLOW)
def synflow(probe: Probe, wanted: frozenset[str]) -> dict[str, float | Undefined]:
    net = probe.network().double()  # a fresh network per call: changing it in place is safe
    swap_in_grouped_conv_replicas(net)  # bit-identical float64 depthwise/grouped convolutions, many times faster on the CPU
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    net.eval()  # BatchNorm off: at initialisation its running statistics (0, 1) make it the identity up to eps
    ones = torch.ones((1, *probe.x.shape[1:]), dtype=torch.float64, device=probe.x.device)
    net(ones).sum().backward()
    total = sum(float((layer.weight.detach() * layer.weight.grad).abs().sum()) for layer in weighted_layers(net) if layer.weight.grad is not None)
    if total == 0:
        return {"synflow": Undefined("no synaptic flow reaches the output: no path of weights links the input to it")}
    return {"synflow": log_or_undefined(total)}
