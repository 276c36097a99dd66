"""The registered scores, one module per shared pass (importing this package registers them all)."""

from . import activation_codes, az_nas, cost, default_init, dss, grasp, meco, synflow, zen, zico  # noqa: F401
