"""How long the built-in model's whole held-out set takes: `vlexplore diagnose --model demo --dataset demo`.

Two measures, both taken in this one run so that they see the same machine load:

* **CLI**: the command a user types, as a fresh process (imports and model load included),
  for this checkout and, with ``--before DIR``, for an older checkout (a plain copy of the
  repository, e.g. ``git archive COMMIT | tar -x -C DIR``), alternating, ``--repeats`` times
  each. Wall time and CPU time (user + system of the process) are reported; on a shared
  machine the wall time is the CPU time stretched by the load, so both are given.
* **engine**: ``diagnose_dataset`` alone in this process (no imports, no model load), with
  length buckets on and off, at 1 and 2 torch threads.

Neither OMP_WAIT_POLICY nor OMP_NUM_THREADS is passed on to the CLI runs, so each checkout
runs with its own defaults. Run:

    HF_HUB_OFFLINE=1 python benchmarks/bench_demo.py [--before /tmp/vlexplore-before] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ["diagnose", "--model", "demo", "--dataset", "demo", "--quiet"]


def run_cli(checkout: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one CLI run of ``checkout``'s vlexplore."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = str(checkout)
    env["HF_HUB_OFFLINE"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # `python -m vlexplore` where the checkout has it; older checkouts ran `vlexplore.cli` as a script
    module = "vlexplore" if (checkout / "vlexplore" / "__main__.py").exists() else "vlexplore.cli"
    done = subprocess.run([sys.executable, "-m", module, *COMMAND], cwd=checkout, env=env, check=True,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if " 251" not in done.stdout:  # a command that did nothing must not pass for a fast one
        raise SystemExit(f"{checkout}: the CLI printed no 251-phrase table:\n{done.stdout}{done.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def engine_times(repeats: int) -> dict[tuple[int, bool], list[tuple[float, float]]]:
    """(threads, buckets) -> [(wall, cpu)] of diagnose_dataset over the demo set."""
    sys.path.insert(0, str(ROOT))
    from vlexplore import registry
    from vlexplore.engine import diagnose_dataset

    torch = sys.modules["torch"]  # loaded by the engine, after vlexplore set its OpenMP defaults

    model, dataset = registry.load_model("demo"), registry.load_dataset("demo")
    out: dict[tuple[int, bool], list[tuple[float, float]]] = {}
    for _ in range(repeats):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for buckets in (True, False):
                wall, cpu = time.perf_counter(), time.process_time()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    n = sum(1 for _ in diagnose_dataset(model, dataset, progress=False, length_buckets=buckets))
                entry = (time.perf_counter() - wall, time.process_time() - cpu)
                out.setdefault((threads, buckets), []).append(entry)
    print(f"engine: {n} phrases")
    return out


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="an older checkout to compare the CLI against")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    checkouts = {"this checkout": ROOT}
    if args.before:
        checkouts = {f"before ({args.before})": args.before, **checkouts}
    cli: dict[str, list[tuple[float, float]]] = {name: [] for name in checkouts}
    for _ in range(args.repeats):
        for name, path in checkouts.items():
            cli[name].append(run_cli(path))
    load = os.getloadavg()
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print("\n| CLI run | wall, median (min-max) | CPU user+sys, median (min-max) |\n| --- | --- | --- |")
    for name, runs in cli.items():
        print(f"| {name} | {_cell([w for w, _ in runs])} | {_cell([c for _, c in runs])} |")
    print("\n| engine (diagnose_dataset) | wall, median (min-max) | CPU, median (min-max) |\n| --- | --- | --- |")
    for (threads, buckets), runs in engine_times(args.repeats).items():
        label = f"{threads} thread{'s' if threads > 1 else ''}, length buckets {'on' if buckets else 'off'}"
        print(f"| {label} | {_cell([w for w, _ in runs])} | {_cell([c for _, c in runs])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
