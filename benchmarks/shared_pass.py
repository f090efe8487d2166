"""What a shared pass saves (engines/shared_pass.py): .venv/bin/python benchmarks/shared_pass.py

- for a few built-ins, the time of one run alone and of each further copy of it in one pass (best of 7 each):
  the difference is the work a pass shares (the clock, the feeds' advance, the Cerebro's set-up);
- the default comparison's two passes timed alone in this process and the comparison itself (both cores), in
  interleaved rounds (best of 7): how much the two passes slow each other on 2 cores and the worker's overheads.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from feeds import prepare_feeds  # noqa: E402
from run_all import timed_rounds  # noqa: E402
from engines.compare import compare, default_names  # noqa: E402
from engines.engine import RunItem, RunSettings  # noqa: E402
from engines.shared_pass import passes, run_pass, run_together  # noqa: E402

REPEAT = 7


def main() -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    feeds, settings = prepare_feeds(), RunSettings()
    print("| run | alone [s] | each further copy in a pass [s] | shared per run [s] |\n|---|---|---|---|")
    for name in ("buy-hold-spy", "rotation", "ratio-z-pair"):
        best = {k: min(v) for k, v in timed_rounds(
            {n: (lambda n=n: run_together([(name, {})] * n, feeds, settings)) for n in (1, 2, 4)}, REPEAT).items()}
        marginal = (best[4] - best[2]) / 2
        print(f"| {name} | {best[1]:.3f} | {marginal:.3f} | {best[1] - marginal:.3f} |")
    names = default_names()
    work = passes([RunItem(n, {}, settings) for n in names], 2)
    fns = {f"pass {k + 1}": (lambda p=p: run_pass(feeds, p)) for k, p in enumerate(work)}
    fns["comparison"] = lambda: compare(names, feeds, settings, progress=lambda line: None)
    best = {k: min(v) for k, v in timed_rounds(fns, REPEAT).items()}
    print("\n| measure | best of 7 [s] |\n|---|---|")
    for k, p in enumerate(work):
        print(f"| pass {k + 1} alone ({', '.join(i.name for i in p.items)}) | {best[f'pass {k + 1}']:.3f} |")
    print(f"| the comparison (the two passes at once, one in a forked worker) | {best['comparison']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
