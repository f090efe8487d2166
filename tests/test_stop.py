"""Stop means stop: Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGTERM (to the command
alone) ends a command on the process pool within 2 s, with one line and no traceback, no process left, and the
earlier output folder as it was. A worker that dies gets a named one-line error."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from engines.executors import WorkerDied, iter_tasks, run_tasks

ROOT = Path(__file__).resolve().parent.parent


def _earlier_run(folder: Path) -> dict[str, bytes]:
    """A folder an earlier run left (its run.json and a table), and its files' contents."""
    folder.mkdir(parents=True)
    (folder / "run.json").write_text('{"command": ["earlier"]}\n')
    (folder / "sweep.csv").write_text("lookback,CAGR [%]\n21,1.0\n")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _session_processes(session: int) -> list[psutil.Process]:
    out = []
    for process in psutil.process_iter(["pid"]):
        try:
            if os.getsid(process.pid) == session:
                out.append(process)
        except (ProcessLookupError, PermissionError):
            continue
    return out


@pytest.mark.parametrize("command, sent", [
    (["sweep", "--grid", "lookback=21:260:1"], "SIGINT"),  # 240 combinations on the Backtrader engine
    (["walkforward", "--grid", "lookback=21:260:1", "--in-sample", "1"], "SIGTERM"),
])
def test_a_signal_stops_the_command_and_its_workers_within_two_seconds(tmp_path, command, sent):
    output = tmp_path / "out"
    before = _earlier_run(output)
    argv = [sys.executable, str(ROOT / "run_backtest.py"), *command, "--start", "2018-01-01", "--end", "2019-12-31",
            "--jobs", "2", "--output", str(output)]
    process = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, env={**os.environ, "MPLBACKEND": "Agg"})
    try:
        seen = ""
        deadline = time.monotonic() + 120
        while "should take about" not in seen:  # the first run is timed here, then the workers start
            line = process.stderr.readline()
            assert line and time.monotonic() < deadline, f"no estimate line: {seen[-2000:]}"
            seen += line
        time.sleep(1.0)  # the pool is busy
        workers = [p for p in _session_processes(process.pid) if p.pid != process.pid]
        assert len(workers) >= 2
        signalled = time.monotonic()
        if sent == "SIGINT":
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: every process of the group gets it
        else:
            process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert took <= 2.0, f"stopped {took:.2f} s after {sent}"
    assert process.returncode == 128 + getattr(signal, sent)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert f"stopped by {sent}" in err.strip().splitlines()[-1]
    time.sleep(0.2)
    assert not [p for p in workers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not _session_processes(process.pid)
    assert {p.name: p.read_bytes() for p in output.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.staging")] == []


def _dies(feeds, item):
    if item == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer does
    time.sleep(0.05)
    return item


def test_a_killed_worker_is_named_with_what_to_try():
    with pytest.raises(WorkerDied) as caught:
        run_tasks(_dies, list(range(8)), feeds=None, jobs=2)
    message = str(caught.value)
    assert message.startswith("a worker process died (killed by SIGKILL, as the system's out-of-memory killer does)")
    assert ("running 3" in message or "one of these was running: " in message and "3" in message)
    assert "fewer --jobs" in message and "--chunk" in message


def _slow(feeds, item):
    time.sleep(0.05)
    return os.getpid()


def test_work_is_handed_out_in_bounded_batches_and_stopped_when_the_reader_stops():
    taken = []

    def items():
        for i in range(1_000):
            taken.append(i)
            yield i

    results = iter_tasks(_slow, items(), feeds=None, jobs=2, in_flight=4)
    first = [next(results) for _ in range(3)]
    assert len(taken) <= 3 + 4  # never more than the batch ahead of what was read
    workers = {pid for _, pid in first}
    results.close()  # the reader stops: the workers are killed, not left to finish 1,000 items
    time.sleep(0.2)
    assert all(not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE for pid in workers)


def test_ctrl_c_on_dask_stops_within_two_seconds_and_the_cluster_drops_the_work(dask_scheduler, tmp_path):
    distributed = pytest.importorskip("distributed")
    argv = [sys.executable, str(ROOT / "run_backtest.py"), "sweep", "--executor", "dask", "--scheduler", dask_scheduler,
            "--grid", "lookback=21:260:1", "--start", "2018-01-01", "--end", "2019-12-31", "--output", str(tmp_path / "o")]
    with distributed.Client(dask_scheduler, timeout="10s") as watcher:
        def tasks() -> int:
            return watcher.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))

        process = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True, env={**os.environ, "MPLBACKEND": "Agg"})
        try:
            deadline = time.monotonic() + 120
            while tasks() < 2 and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.2)
            assert tasks() >= 2, "the sweep never reached the cluster"
            signalled = time.monotonic()
            os.killpg(process.pid, signal.SIGINT)
            _, err = process.communicate(timeout=10)
            took = time.monotonic() - signalled
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        assert took <= 2.0 and process.returncode == 130 and "Traceback" not in err
        deadline = time.monotonic() + 10
        while tasks() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert tasks() == 0, "the cluster kept the stopped sweep's work"
    assert not (tmp_path / "o").exists()
