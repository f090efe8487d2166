"""A user's error points at the user's line: one line naming the strategy, the exception type and file:line in the
user's module, from every command, in this process, on pool workers and on Dask; --debug adds the traceback.
SystemExit in a strategy is an error (rc 2), and a module that does not compile is named with its line."""
from __future__ import annotations

import textwrap

import pytest

from cli.main import main

PERIOD = ["--start", "2019-01-01", "--end", "2019-12-31"]
BUGGY = '''
from strategies import PortfolioStrategy, register


@register("buggy")
class Buggy(PortfolioStrategy):
    params = (("k", 1),)

    def next_open(self):
        if self.is_rebalance_day():
            if self.p.k == 3 and self.now().month == 6:
                return [1, 2][self.p.k]  # line 12: IndexError in June for k=3
            if self.p.k == 4:
                raise SystemExit(0)  # line 14
            self.rebalance({"SPY": 1.0})
'''


@pytest.fixture
def module(tmp_path, clean_registry, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "buggy.py").write_text(textwrap.dedent(BUGGY).lstrip())
    return "buggy.py"


def run(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("command", [
    ["compare", "--strategies", "buggy", "--param", "buggy.k=3", "--no-plots", "--jobs", "1"],
    ["sweep", "--strategy", "buggy", "--grid", "k=1,2,3", "--jobs", "2"],  # k=3 runs on a pool worker
    ["walkforward", "--strategy", "buggy", "--grid", "k=2,3", "--in-sample", "1", "--out-of-sample", "1", "--jobs", "2"],
    ["signal", "--strategies", "buggy", "--param", "buggy.k=3"],
    ["lookahead", "--strategies", "buggy", "--param", "buggy.k=3", "--cuts", "2", "--jobs", "2"],
])
def test_one_line_names_the_strategy_type_and_line(module, capsys, command):
    period = ["--start", "2018-01-01", "--end", "2019-12-31"] if command[0] == "walkforward" else PERIOD
    code, err = run(capsys, *command, "--module", module, *period)
    assert code == 2
    assert err.strip().splitlines()[-1] == ("error: strategy 'buggy': IndexError at buggy.py:11: list index out of "
                                            "range") and "Traceback" not in err


def test_debug_prints_the_traceback_from_the_worker(module, capsys):
    code, err = run(capsys, "sweep", "--strategy", "buggy", "--grid", "k=1,3", "--jobs", "2", "--module", module,
                    *PERIOD, "--debug")
    assert code == 2 and "Traceback (most recent call last)" in err
    assert 'buggy.py", line 11, in next_open' in err and err.strip().endswith("list index out of range")


def test_system_exit_in_a_strategy_is_an_error_not_a_clean_exit(module, capsys, tmp_path):
    code, err = run(capsys, "compare", "--strategies", "buggy", "--param", "buggy.k=4", "--no-plots", "--module",
                    module, "--output", str(tmp_path / "out"), *PERIOD)
    assert code == 2 and "error: strategy 'buggy': SystemExit at buggy.py:13: it called exit(0)" in err
    assert not (tmp_path / "out").exists()
    code, err = run(capsys, "lookahead", "--strategies", "buggy", "--param", "buggy.k=4", "--module", module,
                    "--cuts", "2", *PERIOD)
    assert code == 2 and "PASS" not in capsys.readouterr().out


def test_a_module_that_does_not_compile_is_one_line_with_its_line(tmp_path, capsys, clean_registry, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "typo.py").write_text("from strategies import register\n\n\ndef broken(:\n    pass\n")
    code, err = run(capsys, "list", "--module", "typo.py")
    assert code == 2 and err.strip() == "error: --module typo.py: SyntaxError at typo.py:4: invalid syntax"


def test_on_dask_the_line_comes_back_from_the_worker(module, dask_scheduler, tmp_path):
    from engines.engine import RunError, RunItem, RunSettings, run_item
    from engines.executors import run_tasks
    from feeds import prepare_feeds
    from strategies import load_user_module

    load_user_module(module)
    feeds = prepare_feeds("2019-01-01", "2019-12-31")
    with pytest.raises(RunError) as err:
        run_tasks(run_item, [RunItem("buggy", {"k": 3}, RunSettings())], feeds, executor="dask", scheduler=dask_scheduler)
    # the worker's working folder is not this one: the file is named by its full path
    assert str(err.value) == f"strategy 'buggy': IndexError at {tmp_path / 'buggy.py'}:11: list index out of range"
    assert "Traceback" in err.value.details and "in next_open" in err.value.details


def test_a_bug_in_history_needed_points_at_its_line(tmp_path, capsys, clean_registry, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hist.py").write_text(textwrap.dedent('''
        from strategies import TargetWeights, register


        @register("hist-bug")
        class HistBug(TargetWeights):
            @classmethod
            def history_needed(cls, params):
                return params["sessions"]  # line 8 of the file: no such parameter

            def target_weights(self, known):
                return {"SPY": 1.0}
    ''').lstrip())
    code, err = run(capsys, "compare", "--module", "hist.py", "--strategies", "hist-bug", "--no-plots", *PERIOD)
    assert code == 2 and err.strip().splitlines()[-1] == "error: strategy 'hist-bug': KeyError at hist.py:8: 'sessions'"
