"""TF-TAS's DSS indicator (Zhou et al., CVPR 2022): synaptic diversity of attention plus synaptic saliency of MLPs.

As in the authors' code, the network is linearised (every weight and buffer replaced by its absolute
value, BatchNorm and dropout off by eval mode), run in float64 on one all-ones input, and R, the sum of
its outputs, is differentiated once.  Then

- each weight matrix W of a multi-head self-attention (MSA) module adds its synaptic diversity
  ``||dR/dW||_nuc * ||W||_nuc`` (nuclear norms);
- each MLP weight W adds its synaptic saliency ``sum |W * dR/dW|``;

and the score is the log of the total (the raw DSS spans many orders of magnitude; the log keeps its ranking).

Which modules count, for any ``nn.Module``:

- **MSA**: every outermost ``nn.MultiheadAttention`` or module whose class name contains ``Attention``
  (timm's ``Attention``, Hugging Face's ``ViTAttention``, ``WindowAttention``) but does not end in ``Block``
  or ``Layer`` (an ``AttentionBlock`` is a whole block, its MLP included); its weight matrices are its
  2-D parameters named ``*weight``: a packed ``qkv`` / ``in_proj_weight`` is one matrix, separate q, k, v
  projections three, plus the output projection.  Position-bias tables are not weights of this kind.
- **MLP**: every other ``nn.Linear`` that the forward pass applies to a tensor of more than two dimensions,
  i.e. to each token or position (a ViT block's MLP, MLP-Mixer's token- and channel-mixing MLPs, a
  ConvNeXt block's pointwise layers).  A classifier head sees ``N x C`` and is not an MLP weight, nor is a
  convolutional patch embedding.  (The authors' code picks attention layers by their ``qkv`` class or square
  shape and MLP layers by non-square shape, and also adds the head's saliency; the paper's indicator is the
  two sums above.)
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import Probe, ScoreInfo, register_pass
from ..undefined import Undefined
from .common import log_or_undefined

DSS = ScoreInfo(
    "dss",
    "log of sum over attention weight matrices of ||dR/dW||_nuc ||W||_nuc plus sum over token-wise MLP weights of |W * dR/dW|, R the output sum of the |w| network in float64, eval mode, input all ones (TF-TAS, Zhou et al., CVPR 2022)",
    "dss",
    needs_backward=True,
    data_free=True,
)
NONE = "no attention or MLP layers: no nn.MultiheadAttention or *Attention* module, and no nn.Linear applied to token sequences or feature maps"


#: class-name endings of whole blocks, which hold an MLP besides their attention
BLOCK_SUFFIXES = ("Block", "Layer")


def is_attention(module: nn.Module) -> bool:
    """Whether ``module`` is a multi-head self-attention module by the rule above."""
    name = type(module).__name__
    return isinstance(module, nn.MultiheadAttention) or ("Attention" in name and not name.endswith(BLOCK_SUFFIXES))


def attention_modules(net: nn.Module) -> list[nn.Module]:
    """The outermost attention modules of ``net``, in module order."""
    found: list[nn.Module] = []
    prefixes: list[str] = []
    for name, module in net.named_modules():
        if is_attention(module) and not any(name.startswith(p) for p in prefixes):
            found.append(module)
            prefixes.append(f"{name}." if name else "")
    return found


def attention_weights(modules: list[nn.Module]) -> list[nn.Parameter]:
    """The 2-D ``*weight`` parameters of attention ``modules`` (each matrix once)."""
    seen: dict[int, nn.Parameter] = {}
    for module in modules:
        for name, p in module.named_parameters():
            if p.dim() == 2 and name.endswith("weight"):
                seen.setdefault(id(p), p)
    return list(seen.values())


def token_linears(net: nn.Module, run: torch.Tensor) -> tuple[list[nn.Linear], torch.Tensor]:
    """Run ``net`` on ``run``; the nn.Linear modules it applied to an input of more than 2 dimensions, and its output."""
    applied: dict[int, nn.Linear] = {}

    def note(module: nn.Module, args: tuple) -> None:
        if args and isinstance(args[0], torch.Tensor) and args[0].dim() > 2:
            applied.setdefault(id(module), module)

    handles = [m.register_forward_pre_hook(note) for m in net.modules() if isinstance(m, nn.Linear)]
    try:
        out = net(run)
    finally:
        for h in handles:
            h.remove()
    return list(applied.values()), out


def linearised(net: nn.Module) -> nn.Module:
    """``net`` in float64, every floating weight and buffer made non-negative, in eval mode (changed in place)."""
    net = net.double()
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    return net.eval()


def nuclear(m: torch.Tensor) -> torch.Tensor:
    return torch.linalg.matrix_norm(m, ord="nuc")


def weights_by_role(net: nn.Module, run: torch.Tensor) -> tuple[list[nn.Parameter], list[nn.Parameter], torch.Tensor]:
    """The attention weight matrices and the MLP weights of ``net`` by the rule above, and its output on ``run``."""
    attention = attention_modules(net)
    inside = {id(p) for m in attention for p in m.parameters()}
    linears, out = token_linears(net, run)
    return attention_weights(attention), [m.weight for m in linears if id(m.weight) not in inside], out


@register_pass(DSS)
def dss(probe: Probe, wanted: frozenset[str]) -> dict[str, float | Undefined]:
    net = linearised(probe.network())  # a fresh network per call: changing it in place is safe
    ones = torch.ones((1, *probe.x.shape[1:]), dtype=torch.float64, device=probe.x.device)
    msa, mlp, out = weights_by_role(net, ones)
    if not msa and not mlp:
        return {"dss": Undefined(NONE)}
    grads = torch.autograd.grad(out.sum(), msa + mlp, allow_unused=True)
    total = torch.zeros((), dtype=torch.float64, device=probe.x.device)
    for w, g in zip(msa, grads[: len(msa)]):
        if g is not None:
            total = total + nuclear(g) * nuclear(w.detach())
    for w, g in zip(mlp, grads[len(msa) :]):
        if g is not None:
            total = total + (w.detach() * g).abs().sum()
    return {"dss": log_or_undefined(total)}
