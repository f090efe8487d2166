"""Backtrader strategies: thin classes over the pure signal functions in ``signals``.

Every strategy registers itself (``strategies.registry.register``) so the runner finds it.
"""
from .base import PortfolioStrategy, check_choice, check_number, whole_or_zero
from .registry import Entry, get, load_user_module, register, registered

__all__ = ["Entry", "PortfolioStrategy", "check_choice", "check_number", "get", "load_user_module", "register", "registered", "whole_or_zero"]
