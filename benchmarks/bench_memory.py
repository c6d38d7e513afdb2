"""Peak memory of a dataset run: does it grow with the number of phrases?

`vlexplore diagnose --model demo --out DIR` over ``synthetic.world_sized`` (Flickr30k val's
shape for the built-in model: 1,000 images x 5 captions, 14,433 phrases, generated as read)
and over a tenth of it, each in a fresh process; the peak resident set size (ru_maxrss) of
that process is reported with the wall and CPU time. Rows stream to phrases.csv and into
the summary, so the two peaks should be the same. Run:

    HF_HUB_OFFLINE=1 python benchmarks/bench_memory.py [--phrases 1443 14433]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's vlexplore, not an installed one


def load_world_sized(argument: str, **options):
    """Registry target: ``worldsized:N`` is a synthetic set of N phrases (N/14.433 images)."""
    from synthetic import world_sized

    from vlexplore.models.builtin import load_shipped

    n_phrases = int(argument)
    n_images = max(1, round(n_phrases / 14.433))
    return world_sized(load_shipped("demo").region_class_names, n_images=n_images, n_phrases=n_phrases)


def child(n_phrases: int) -> None:
    from vlexplore import cli, registry

    registry.register_dataset("worldsized", "bench_memory:load_world_sized", prefix=True)
    with tempfile.TemporaryDirectory() as out:
        start, cpu = time.perf_counter(), time.process_time()
        code = cli.main(["diagnose", "--model", "demo", "--dataset", f"worldsized:{n_phrases}", "--out", out,
                         "--quiet", "--json"])
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        if code:
            sys.exit(code)
        rows = (Path(out) / "phrases.csv").read_text().count("\n") - 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    print(json.dumps({"code": code, "phrases": n_phrases, "rows": rows, "peak_rss_mib": peak, "wall_s": wall, "cpu_s": cpu}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phrases", type=int, nargs="+", default=[1443, 14433])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    print("| phrases | rows in phrases.csv | peak RSS | wall | CPU |\n| ---: | ---: | ---: | ---: | ---: |")
    for n in args.phrases:
        done = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if done.returncode:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {n:,} | {row['rows']:,} | {row['peak_rss_mib']:.0f} MiB | {row['wall_s']:.0f} s | {row['cpu_s']:.0f} s |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
