"""Backtrader strategies: thin classes over the pure signal functions in ``signals``.

Every strategy registers itself (``strategies.registry.register``) so the runner finds it.
"""
from .base import PortfolioStrategy, check_choice, check_number, whole_or_zero
from .registry import Entry, get, load_user_module, register, registered
from .weights import Known, TargetWeights

__all__ = ["Entry", "Known", "PortfolioStrategy", "TargetWeights", "check_choice", "check_number", "get", "load_user_module", "register", "registered", "whole_or_zero"]

# The built-in runs register in the comparison's row order (registry.BUILTIN_ORDER: the published rotation, the ratio
# strategies, the benchmarks) whichever of their modules is imported first.
from . import rotation, ratio, benchmarks  # noqa: E402,F401  (isort: skip)
