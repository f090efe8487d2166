"""The whole `sweep --engine fast` command at 10,000, 100,000 and 1,000,000 rotation combinations, 2010-2024:

    .venv/bin/python benchmarks/sweep_scale.py [--sizes 10000,100000,1000000] [--jobs 2] [--executor dask]

Each size runs `run_backtest.py sweep` as a user would (a fresh process, data loading, the results file, tables,
pictures and report.html included) and measures, while it runs, the memory of the command's whole process tree
(the command and every worker it starts) every 0.1 s: the sum of resident memory (RSS, which counts pages the
workers share with the command once per process, so it overstates) and the sum of proportional memory (PSS, each
shared page split between its sharers: the memory the tree really holds). Reported per size: the command's wall
time, the engine's time (the sweep's own timing in sweep.json), their ratio against the target
(whole <= 1.3 x engine + 5 s), both peaks (target <= 2 GiB), and the size of every output file. With
`--executor dask` the script first starts a Dask cluster of separate processes on loopback (`dask scheduler` and
`--jobs` x `dask worker --nthreads 1`), counts their memory too, and stops it at the end. Results are printed and
saved to benchmarks/results/sweep_scale.json (or --save). The grid:

    lookback 10..259 (250) x allocation 0.025..1 (40)                      =    10,000
    x vix_level 15..60 step 5 (10)                                          =   100,000
    x breaker_drawdown 0.02..0.20 step 0.02 (10)                            = 1,000,000
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
GRIDS = [("lookback", "10:259:1"), ("allocation", "0.025:1:0.025"), ("vix_level", "15:60:5"), ("breaker_drawdown", "0.02:0.2:0.02")]
SIZES = {10_000: 2, 100_000: 3, 1_000_000: 4}  # combinations -> how many of GRIDS
GIB = 1024 ** 3


class TreeMemory:
    """Samples the memory of processes and all their descendants every ``interval`` seconds, in a thread."""

    def __init__(self, pids: list[int], interval: float = 0.1) -> None:
        self.roots, self.interval = [psutil.Process(p) for p in pids], interval
        self.peak_rss = self.peak_pss = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            processes = []
            for root in self.roots:
                try:
                    processes += [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    continue
            if not processes:
                return
            rss = pss = 0
            for process in processes:
                try:
                    info = process.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.peak_processes = max(self.peak_processes, len(processes))
            self._stop.wait(self.interval)


def start_cluster(workers: int) -> tuple[str, list[subprocess.Popen]]:
    """A Dask scheduler and ``workers`` single-threaded worker processes on loopback; their address and processes."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes = [subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                   "--no-dashboard"], **quiet)]
    time.sleep(3)
    processes += [subprocess.Popen([str(bin_dir / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard",
                                    "--memory-limit", "0"], cwd=ROOT, **quiet) for _ in range(workers)]
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(workers, timeout=60)
    return address, processes


def run_size(size: int, jobs: int, extra: list[str], also: list[int] = (), keep: str | None = None) -> dict:
    grid = [f"{k}={v}" for k, v in GRIDS[:SIZES[size]]]
    with tempfile.TemporaryDirectory(prefix="sweep-scale-") as folder:
        output = Path(keep) / f"sweep-{size}" if keep else Path(folder) / "sweep"
        command = [sys.executable, str(ROOT / "run_backtest.py"), "sweep", "--engine", "fast", "--jobs", str(jobs),
                   "--output", str(output), *(a for g in grid for a in ("--grid", g)), *extra]
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "MPLBACKEND": "Agg"})
        with TreeMemory([process.pid, *also]) as memory:
            out, err = process.communicate()
        wall = time.perf_counter() - started
        if process.returncode:
            raise SystemExit(f"size {size}: exit {process.returncode}\n{err[-3000:]}")
        meta = json.loads((output / "sweep.json").read_text())
        files = {f["path"]: f["bytes"] for f in json.loads((output / "run.json").read_text())["files"]}
        pictures = {}
        for name in ("heatmap.png", "stability.png"):
            if (output / name).exists():
                from PIL import Image

                with Image.open(output / name) as image:
                    pictures[name] = image.size
    engine = meta["timing"]["engine seconds"]
    return {
        "combinations": size, "grid": grid, "command": " ".join(["run_backtest.py", *command[2:]]),
        "wall seconds": round(wall, 2), "engine seconds": round(engine, 2),
        "target seconds (1.3 x engine + 5)": round(1.3 * engine + 5, 2),
        "peak RSS of all processes [MiB]": round(memory.peak_rss / 2 ** 20), "peak PSS of all processes [MiB]":
        round(memory.peak_pss / 2 ** 20), "processes at most": memory.peak_processes,
        "files [bytes]": files, "pictures [px]": pictures, "timing": meta["timing"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated, from 10000, 100000, 1000000")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--executor", choices=("local", "dask"), default="local")
    parser.add_argument("--save", default=str(ROOT / "benchmarks" / "results" / "sweep_scale.json"))
    parser.add_argument("--keep", metavar="DIR", help="keep each size's output folder as DIR/sweep-SIZE (default: removed)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"--sizes: {unknown} not among {sorted(SIZES)}")
    cluster: list[subprocess.Popen] = []
    extra = ["--executor", args.executor]
    if args.executor == "dask":
        address, cluster = start_cluster(args.jobs)
        extra += ["--scheduler", address]
    results = {"machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                           "load average before": os.getloadavg()}, "executor": args.executor, "runs": []}
    try:
        for size in sizes:
            results["runs"].append(_one(size, args, extra, [p.pid for p in cluster]))
    finally:
        for process in cluster:
            process.terminate()
        for process in cluster:
            process.wait(timeout=30)
    Path(args.save).write_text(json.dumps(results, indent=2) + "\n")
    print(f"saved {args.save}")
    return 0


def _one(size: int, args, extra: list[str], also: list[int]) -> dict:
    """One size, printed as it finishes."""
    load = os.getloadavg()
    row = run_size(size, args.jobs, extra, also, args.keep)
    row["load average before / after"] = [round(load[0], 2), round(os.getloadavg()[0], 2)]
    target = row["target seconds (1.3 x engine + 5)"]
    met_time = row["wall seconds"] <= target
    met_memory = row["peak PSS of all processes [MiB]"] <= 2048
    print(f"{size:>9,} combinations: {row['wall seconds']:.1f} s whole command, engine {row['engine seconds']:.1f} s "
          f"(target <= {target:.1f} s: {'met' if met_time else 'NOT met'}); peak RSS "
          f"{row['peak RSS of all processes [MiB]']:,} MiB, PSS {row['peak PSS of all processes [MiB]']:,} MiB "
          f"(<= 2,048: {'met' if met_memory else 'NOT met'}); load {row['load average before / after']}", flush=True)
    for name, size_bytes in row["files [bytes]"].items():
        print(f"    {name}: {size_bytes:,} bytes", flush=True)
    print(f"    pictures: {row['pictures [px]']}", flush=True)
    return row

if __name__ == "__main__":
    sys.exit(main())
