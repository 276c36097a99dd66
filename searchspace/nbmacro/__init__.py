"""NAS-Bench-Macro (Su et al., CVPR 2021): encodings, the benchmark's network and its cost."""

from .encoding import ALLOWED, LAYERS, OP_NAMES, STAGES, parse, to_string
from .network import NBMacroNetwork, layer_plan
from .space import NBMacroSpace

__all__ = ["ALLOWED", "LAYERS", "OP_NAMES", "STAGES", "NBMacroNetwork", "NBMacroSpace", "layer_plan", "parse", "to_string"]
