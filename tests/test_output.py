"""The output folder is one run, whole or absent: staging and swap, run.json, byte-for-byte reproducibility, file
modes, write errors, and SIGKILL at several points (the folder is the old one or the new one, no worker survives)."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from feeds.bars import BUNDLED_DIR
from cli.main import main

ROOT = Path(__file__).resolve().parent.parent
SHORT = ["--start", "2019-01-01", "--end", "2020-12-31", "--jobs", "1"]
TIMES = ("started", "finished")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), run.json without its two times."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "run.json":
            manifest = json.loads(data)
            data = json.dumps({k: v for k, v in manifest.items() if k not in TIMES}, sort_keys=True).encode()
        files[path.relative_to(folder).as_posix()] = data
    return files


def run_cli(argv, capsys=None) -> int:
    code = main(argv)
    if capsys is not None:
        capsys.readouterr()
    return code


def test_a_run_replaces_the_whole_folder_and_reproduces_byte_for_byte(tmp_path, capsys):
    out = tmp_path / "latest"
    first = ["compare", *SHORT, "--strategies", "rotation,ratio-rotation,buy-hold-spy", "--output", str(out)]
    assert run_cli(first, capsys) == 0
    once = snapshot(out)
    assert {"trades.csv", "decisions.csv", "weights.csv", "run.json", "comparison.png", "plots/rotation.png"} <= set(once)
    assert run_cli(first, capsys) == 0
    assert snapshot(out) == once  # the same data and config: every file byte for byte (run.json but its times)
    assert run_cli(["compare", *SHORT, "--strategies", "rotation", "--no-plots", "--output", str(out)], capsys) == 0
    manifest = json.loads((out / "run.json").read_text())
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk == listed | {"run.json"}  # nothing of the first run is left
    assert not any(name.endswith(".png") for name in on_disk)
    assert list(pd.read_csv(out / "comparison.csv")["Run"]) == ["rotation"]
    assert not [p for p in tmp_path.iterdir() if p.name != "latest"]  # no staging folder left beside it


def test_run_json_describes_the_run(tmp_path, capsys):
    out = tmp_path / "o"
    argv = ["compare", *SHORT, "--strategies", "buy-hold-spy", "--no-plots", "--output", str(out)]
    assert run_cli(argv, capsys) == 0
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["command"] == ["run_backtest.py", *argv]
    assert manifest["config"]["run"]["start"] == "2019-01-01" and manifest["config"]["strategies"] == ["buy-hold-spy"]
    inputs = {Path(i["file"]).name: i for i in manifest["inputs"]}
    assert set(inputs) == {"SPY.csv", "IWM.csv", "BIL.csv", "SGOV.csv"}  # buy-hold-spy reads no VIX
    assert manifest["accepted bars"] == []
    for name, entry in inputs.items():
        raw = (BUNDLED_DIR / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(raw).hexdigest()
        dates = pd.read_csv(BUNDLED_DIR / name)["Date"]
        assert (entry["first"], entry["last"]) == (dates.iloc[0], dates.iloc[-1])
    assert manifest["packages"]["backtrader"] == "1.9.78.123" and manifest["packages"]["pandas"] == pd.__version__
    for entry in manifest["files"]:
        assert (out / entry["path"]).stat().st_size == entry["bytes"]
    assert manifest["started"] <= manifest["finished"]
    trades = pd.read_csv(out / "trades.csv")
    assert list(trades.columns) == ["date", "run", "symbol", "side", "size", "price", "value", "commission", "reason"]
    assert trades[["date", "run", "symbol", "side", "reason"]].values.tolist() == [["2019-01-02", "buy-hold-spy", "SPY", "buy", "scheduled"]]
    weights = pd.read_csv(out / "weights.csv")
    assert list(weights.columns) == ["date", "run", "IWM", "SPY", "SGOV", "cash"] and len(weights) == 505
    assert (weights[["IWM", "SPY", "SGOV", "cash"]].sum(axis=1) - 1).abs().max() < 1e-9


def test_files_get_the_umask_mode(tmp_path, capsys):
    previous = os.umask(0o027)
    try:
        assert run_cli(["compare", *SHORT, "--strategies", "buy-hold-spy", "--output", str(tmp_path / "o")], capsys) == 0
    finally:
        os.umask(previous)
    out = tmp_path / "o"
    assert (out.stat().st_mode & 0o777) == 0o750 and ((out / "plots").stat().st_mode & 0o777) == 0o750
    for path in out.rglob("*"):
        if path.is_file():
            assert (path.stat().st_mode & 0o777) == 0o640, path


@pytest.mark.parametrize("where", ["file", "parent is a file"])
def test_a_file_in_the_way_is_one_named_error(tmp_path, capsys, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    target = blocker if where == "file" else blocker / "out"
    assert main(["compare", *SHORT, "--strategies", "buy-hold-spy", "--no-plots", "--output", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(blocker) in err and "Traceback" not in err
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("where", ["a folder of other files", "the working folder"])
def test_a_folder_that_is_not_a_run_is_never_replaced(tmp_path, capsys, monkeypatch, where):
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    if where == "the working folder":
        monkeypatch.chdir(mine)
    target = "." if where == "the working folder" else str(mine)
    assert main(["compare", *SHORT, "--strategies", "buy-hold-spy", "--no-plots", "--output", target]) == 2
    err = capsys.readouterr().err
    assert "not from an earlier run" in err and "Traceback" not in err
    assert [p.name for p in mine.iterdir()] == ["thesis.txt"] and (mine / "thesis.txt").read_text() == "years of work"
    assert [p.name for p in tmp_path.iterdir()] == ["documents"]


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "No space left on device"), (errno.EACCES, "Permission denied")])
def test_disk_full_or_read_only_is_one_named_error_and_keeps_the_old_folder(tmp_path, capsys, monkeypatch, code, words):
    out = tmp_path / "o"
    argv = ["compare", *SHORT, "--strategies", "buy-hold-spy", "--no-plots", "--output", str(out)]
    assert run_cli(argv, capsys) == 0
    before = snapshot(out)
    real_replace = os.replace

    def failing(src, dst, *args, **kwargs):
        if Path(dst).name == "weights.csv":  # mid-run: some files are written already
            raise OSError(code, os.strerror(code), str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", failing)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"cannot write the output folder {out}: {words}" in err and "Traceback" not in err
    monkeypatch.undo()
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["o"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; covered by the EACCES case above")
def test_read_only_folder_is_one_named_error(tmp_path, capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        assert main(["compare", *SHORT, "--strategies", "buy-hold-spy", "--no-plots", "--output", str(parent / "o")]) == 2
    finally:
        parent.chmod(0o755)
    assert "cannot write the output folder" in capsys.readouterr().err


# -- SIGKILL -------------------------------------------------------------------------------------------------------
KILLER = """
import os, signal, sys
import cli.output as output
when = sys.argv[1]  # "write:NAME" (before NAME is renamed into place), "swap" (before), "swapped" (after the swap)
def maybe_kill(point):
    if point == when:
        os.kill(os.getpid(), signal.SIGKILL)
real_replace, real_swap = os.replace, output._swap
def replace(src, dst, *args, **kwargs):
    maybe_kill("write:" + os.path.basename(dst))
    return real_replace(src, dst, *args, **kwargs)
def swap(*args):
    maybe_kill("swap")
    real_swap(*args)
    maybe_kill("swapped")
os.replace, output._swap = replace, swap
from cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def _env() -> dict:
    return {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}


def test_sigkill_at_any_point_leaves_the_old_folder_or_the_new_one(tmp_path):
    out = tmp_path / "latest"
    old_argv = ["compare", *SHORT, "--strategies", "rotation,buy-hold-spy", "--no-plots", "--output", str(out)]
    new_argv = ["compare", *SHORT, "--strategies", "ratio-rotation", "--no-plots", "--output", str(out)]
    assert subprocess.run([sys.executable, "run_backtest.py", *old_argv], cwd=ROOT, env=_env(), capture_output=True).returncode == 0
    old = snapshot(out)
    seen = []
    for when in ["write:comparison.csv", "write:trades.csv", "write:run.json", "swap", "swapped"]:
        proc = subprocess.run([sys.executable, "-c", KILLER, when, *new_argv], cwd=ROOT, env=_env(), capture_output=True)
        assert proc.returncode == -signal.SIGKILL, (when, proc.stderr.decode()[-2000:])
        seen.append((when, snapshot(out)))
    assert subprocess.run([sys.executable, "run_backtest.py", *new_argv], cwd=ROOT, env=_env(), capture_output=True).returncode == 0
    new = snapshot(out)
    assert new != old
    for when, state in seen:
        assert state == (new if when == "swapped" else old), when
    assert [p.name for p in tmp_path.iterdir()] == ["latest"]  # killed runs' staging folders removed by the next run


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the workers")
def test_pool_workers_die_with_the_main_process(tmp_path):
    out = tmp_path / "o"
    # the full comparison with plots: long enough to kill mid-run; with --jobs 3 the main process runs its share
    # next to 2 pool workers
    argv = ["compare", "--jobs", "3", "--output", str(out)]
    main_proc = subprocess.Popen([sys.executable, "run_backtest.py", *argv], cwd=ROOT, env=_env(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    while len(workers) < 2 and time.monotonic() < deadline and main_proc.poll() is None:
        workers |= _children(main_proc.pid)
        time.sleep(0.1)
    assert len(workers) >= 2, "the pool never started"
    time.sleep(1.0)
    main_proc.send_signal(signal.SIGKILL)
    main_proc.wait()
    deadline = time.monotonic() + 10
    while any(_running(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if _running(w)], "workers outlived the main process"
    assert not out.exists()  # the killed run never swapped a folder in


def test_dask_drops_the_tasks_of_a_killed_run(dask_scheduler, tmp_path):
    """Dask workers belong to the cluster and live on; what must stop is the killed run's work: the scheduler
    forgets every task (and the scattered data) of a client that died, and no folder is swapped in."""
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "o"
    argv = ["sweep", "--executor", "dask", "--scheduler", dask_scheduler, "--grid", "lookback=21:252:1",
            "--start", "2015-01-01", "--end", "2019-12-31", "--output", str(out)]
    with distributed.Client(dask_scheduler, timeout="10s") as watcher:
        def tasks() -> int:
            return watcher.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))

        assert tasks() == 0
        proc = subprocess.Popen([sys.executable, "run_backtest.py", *argv], cwd=ROOT, env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while tasks() < 3 and time.monotonic() < deadline and proc.poll() is None:  # work is sent in small batches
            time.sleep(0.2)
        assert tasks() >= 3, "the sweep never reached the cluster"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 20
        while tasks() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert tasks() == 0, "the cluster kept working for a dead client"
    assert not out.exists()


def test_run_json_finds_the_input_files_of_every_source():
    from cli.output import input_files

    sources = {"SPY": "yahoo (cache /home/u/.cache/smallcap-rotation/yahoo/SPY.csv, fetched 2025-09-29)",
               "SGOV": "BIL from csv:/tmp/my data/BIL.csv + SGOV from csv:/tmp/my data/SGOV.csv", "IWM": "bundled:IWM.csv"}
    assert input_files(sources) == [Path("/home/u/.cache/smallcap-rotation/yahoo/SPY.csv"), Path("/tmp/my data/BIL.csv"),
                                    Path("/tmp/my data/SGOV.csv"), BUNDLED_DIR / "IWM.csv"]
