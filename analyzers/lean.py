"""Backtrader's per-session calls to an analyzer, without the steps the analyzer does not use."""
from __future__ import annotations

import backtrader as bt


def _ignore(*args) -> None:
    return None


class LeanAnalyzer(bt.Analyzer):
    """A ``bt.Analyzer`` that skips the per-session dispatch steps it does not use (Backtrader 1.9.78.123, pinned).

    Every session Backtrader calls each analyzer's ``_next``, ``_notify_cashvalue`` and ``_notify_fund``; each calls
    the same method of every child analyzer, then the hook (``next``, ``notify_cashvalue``, ``notify_fund``). For
    an analyzer without children, from ``_start`` on, where its class keeps Backtrader's dispatch method: a hook
    the class leaves as Backtrader's (which does nothing) is not called at all, and ``_next`` is the analyzer's own
    ``next``. Every hook a subclass defines, and every dispatch method it overrides (e.g. Backtrader's
    ``TimeFrameAnalyzerBase._next``), is called as before, at the same moments and in the same order.
    """

    def _start(self) -> None:
        super()._start()
        if self._children:
            return
        cls = type(self)
        for dispatch, hook in (("_next", "next"), ("_notify_cashvalue", "notify_cashvalue"), ("_notify_fund", "notify_fund")):
            if getattr(cls, dispatch) is not getattr(bt.Analyzer, dispatch):
                continue  # the class dispatches in its own way
            setattr(self, dispatch, _ignore if getattr(cls, hook) is getattr(bt.Analyzer, hook) else getattr(self, hook))
