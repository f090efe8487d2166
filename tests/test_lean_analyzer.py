"""LeanAnalyzer (analyzers/lean.py) skips only the per-session dispatch an analyzer does not use: an analyzer that
defines every hook, one with a child analyzer and one that defines none get exactly the calls a plain
``bt.Analyzer`` gets, session by session; a class with its own dispatch method keeps it. (The standard analyzers'
figures, which use it, are checked against independent computations in tests/test_analyzers.py.)"""
from __future__ import annotations

import backtrader as bt
import pytest

from analyzers.lean import LeanAnalyzer
from feeds import prepare_feeds
from engines.engine import RunSettings, build_run

START, END = "2019-01-01", "2019-12-31"


def calls_logger(base: type, child: bool = False) -> type:
    """An analyzer on ``base`` that logs every hook call with the bar it came on (and optionally has a child)."""

    class Logger(base):
        def __init__(self):
            self.log = []
            if child:
                self.sub = Plain()

        def next(self):
            self.log.append(("next", len(self.strategy)))

        def notify_cashvalue(self, cash, value):
            self.log.append(("cashvalue", len(self.strategy), round(cash, 6), round(value, 6)))

        def notify_fund(self, cash, value, fundvalue, shares):
            self.log.append(("fund", len(self.strategy), round(fundvalue, 6)))

        def notify_order(self, order):
            self.log.append(("order", len(self.strategy), order.data._name, order.getstatusname(), order.created.size))

        def get_analysis(self):
            return self.log

    return Logger


class Plain(bt.Analyzer):
    pass


@pytest.fixture(scope="module")
def feeds():
    return prepare_feeds(START, END)


def logs(feeds, base: type, child: bool = False) -> list:
    _, _, cerebro = build_run("rotation", feeds, RunSettings(start=START, end=END))
    cerebro.addanalyzer(calls_logger(base, child), _name="logger")
    return cerebro.run()[0].analyzers.logger.get_analysis()


@pytest.mark.parametrize("child", [False, True])
def test_every_defined_hook_gets_the_calls_a_plain_analyzer_gets(feeds, child):
    plain, lean = logs(feeds, bt.Analyzer, child), logs(feeds, LeanAnalyzer, child)
    assert lean == plain
    kinds = {entry[0] for entry in plain}
    assert kinds == {"next", "cashvalue", "fund", "order"} and len(plain) > 3 * 250  # every session, and the fills


def test_hooks_left_to_backtrader_are_not_called(feeds):
    class Quiet(LeanAnalyzer):
        def get_analysis(self):
            return {}

    _, _, cerebro = build_run("rotation", feeds, RunSettings(start=START, end=END))
    cerebro.addanalyzer(Quiet, _name="quiet")
    quiet = cerebro.run()[0].analyzers.quiet
    assert quiet._next.__name__ == quiet._notify_cashvalue.__name__ == quiet._notify_fund.__name__ == "_ignore"


def own_dispatch(base: type) -> type:
    class OwnDispatch(base):  # like Backtrader's TimeFrameAnalyzerBase, which overrides _next
        def __init__(self):
            self.sessions = 0

        def _next(self):
            self.sessions += 1
            super()._next()

        def get_analysis(self):
            return self.sessions

    return OwnDispatch


def test_a_class_with_its_own_dispatch_keeps_it(feeds):
    counts = []
    for base in (bt.Analyzer, LeanAnalyzer):
        _, _, cerebro = build_run("rotation", feeds, RunSettings(start=START, end=END))
        cerebro.addanalyzer(own_dispatch(base), _name="own")
        counts.append(cerebro.run()[0].analyzers.own.get_analysis())
    assert counts[0] == counts[1] > 250
