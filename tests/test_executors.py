"""The local executor with the calling process working next to the workers (used by the comparison)."""
from __future__ import annotations

import os
import time

import pytest

from engines.executors import TaskError, run_tasks


def _pid_square(feeds, item):
    time.sleep(0.02)  # long enough that both sides take items
    return item * item, os.getpid()


def _fails_on_first_or_last(feeds, item):
    if item in (0, 7):  # a worker takes item 0 first, this process item 1 (item 7: whoever gets there)
        raise KeyError(f"{item} is bad")
    time.sleep(0.01)
    return item


def test_caller_works_gives_every_result_in_order_from_both_processes():
    out = run_tasks(_pid_square, list(range(12)), feeds=None, jobs=2, caller_works=True)
    assert [square for square, _ in out] == [i * i for i in range(12)]
    pids = {pid for _, pid in out}
    assert os.getpid() in pids and len(pids) == 2  # this process and one worker shared the items


@pytest.mark.parametrize("jobs", [2, 3])
def test_caller_works_raises_the_first_error_naming_the_item(jobs):
    with pytest.raises(TaskError, match=r"^(0: KeyError: 0|7: KeyError: 7) is bad"):
        run_tasks(_fails_on_first_or_last, list(range(8)), feeds=None, jobs=jobs, caller_works=True)
