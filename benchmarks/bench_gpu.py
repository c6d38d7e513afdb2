"""The five VOLTA architectures on a GPU: phrases/s, peak memory, and what tf32/bf16 cost in bits.

A synthetic set of Flickr30k Entities val's size (``synthetic.flickr_sized``: 1,000 images,
5 captions each, 14,433 phrases, 36 regions of 2048-d features, a 1,601-way detector
distribution; generated as it is read) goes through each architecture built at full size
from its shipped config with random weights (nothing downloaded), on one CUDA device,
with ``diagnose_dataset`` (length buckets on, the next window prepared on a second thread).
For each architecture:

* the timed run: every phrase at ``--precision`` (default tf32), after a warm-up batch;
  phrases/s and the peak of ``torch.cuda.max_memory_allocated``. A run that passes
  ``--budget`` seconds stops there and is reported as partial (phrases done, and the whole
  set's time at that rate), so one call of a lent GPU machine always ends with a table;
* the deviation: the first ``--compare`` phrases at fp32, tf32 and bf16; the largest
  absolute difference of any of the six scores from fp32's, in bits.

Before the table it measures the card's tf32 and bf16 matmul rates (8192-cubed products) and
the host's share: ``prepare`` alone (no model) over 1,000 phrases, and the first
architecture's run with the second thread off (``--no-prefetch-row``), both on the same set.

Target (issue 15): the whole set in <= 60 s per model on one H100 in tf32. Run:

    HF_HUB_OFFLINE=1 python benchmarks/bench_gpu.py [--phrases 14433] [--compare 512] [--batch-size 32]

Prints markdown tables. Needs a CUDA GPU (``--device cpu`` runs the same code on a CPU,
slowly, to check the script itself).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's vlexplore

import numpy as np  # noqa: E402
import torch  # noqa: E402
from synthetic import flickr_sized  # noqa: E402  (benchmarks/ is on sys.path)

from vlexplore.engine import diagnose_dataset  # noqa: E402
from vlexplore.inputs import prepare  # noqa: E402
from vlexplore.models.volta import ARCHS, VoltaBackend, VoltaConfig, VoltaForPretraining  # noqa: E402
from vlexplore.text import CaptionTruncatedWarning  # noqa: E402

SCORES = ("mlm_bits_none", "mlm_bits_object", "mlm_bits_all", "mrc_kl_bits_none", "mrc_kl_bits_phrase", "mrc_kl_bits_all")
ORDER = ("uniter", "lxmert", "vilbert", "visualbert", "vl-bert")  # the paper's two layouts first


def scores(results) -> np.ndarray:
    """(phrases, 6) scores in bits."""
    return np.array([[getattr(r, name) for name in SCORES] for r in results], dtype=np.float64)


def run(model, examples, average, precision: str, batch_size: int, limit: int | None = None,
        budget: float | None = None, prefetch: bool | None = None) -> tuple[int, float]:
    """Phrases done and seconds taken; stops after ``budget`` seconds (if given)."""
    start, done = time.perf_counter(), 0
    for _ in diagnose_dataset(model, examples, limit=limit, batch_size=batch_size, progress=False,
                              average_feature=average, precision=precision, prefetch=prefetch):
        done += 1
        if budget is not None and time.perf_counter() - start > budget:
            break
    if model.device.type == "cuda":
        torch.cuda.synchronize(model.device)
    return done, time.perf_counter() - start


def results(model, examples, average, precision: str, batch_size: int, limit: int):
    return list(diagnose_dataset(model, examples, limit=limit, batch_size=batch_size, progress=False,
                                 average_feature=average, precision=precision))


def matmul_tflops(device: torch.device, dtype: torch.dtype, tf32: bool, n: int = 8192, repeats: int = 10) -> float:
    """Mean rate of ``repeats`` n-cubed products after a warm-up, on random data."""
    torch.backends.cuda.matmul.allow_tf32 = tf32
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    a @ b
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize(device)
    torch.backends.cuda.matmul.allow_tf32 = False
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12


def prepare_seconds(model, examples, average, n: int) -> float:
    """Host time of ``prepare`` alone for ``n`` phrases, per 1,000."""
    units = islice(((ex, j) for ex in examples for j in ex.diagnosable_phrases()), n)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptionTruncatedWarning)
        count = sum(1 for ex, j in units if prepare(model, ex, j, average_feature=average))
    return (time.perf_counter() - start) / count * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phrases", type=int, default=14433, help="phrases in the timed run (default: all)")
    parser.add_argument("--compare", type=int, default=512, help="phrases run at fp32, tf32 and bf16")
    parser.add_argument("--precision", default="tf32", help="precision of the timed run (default tf32)")
    parser.add_argument("--batch-size", type=int, default=32, help="phrases per forward (6 rows each)")
    parser.add_argument("--archs", nargs="+", default=list(ORDER), choices=ARCHS)
    parser.add_argument("--budget", type=float, default=100.0, help="seconds at most for one timed run")
    parser.add_argument("--deadline", type=float, default=None,
                        help="seconds from the start after which no further architecture is begun")
    parser.add_argument("--no-prefetch-row", type=int, default=3000, metavar="N",
                        help="phrases of the first architecture run again without the second thread (0: skip)")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    began = time.perf_counter()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: skipped, no CUDA GPU here; run it on a GPU machine (or --device cpu to check the script)")
        return 0  # `make bench` on a CPU machine: nothing to measure, not a failure
    n_images = max(1, round(args.phrases / 14.433))
    examples = flickr_sized(n_images=n_images, n_phrases=min(max(args.phrases, 10 * n_images), 15 * n_images))
    average = examples.average_region_feature()
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{card}, torch {torch.__version__}, {os.cpu_count()} CPU cores, {examples.n_phrases} phrases "
          f"({n_images} images), batch {args.batch_size} phrases, timed at {args.precision}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    if device.type == "cuda":
        print(f"matmul 8192^3 on random data: tf32 {matmul_tflops(device, torch.float32, True):.0f} TFLOP/s, "
              f"fp32 {matmul_tflops(device, torch.float32, False):.0f} TFLOP/s, "
              f"bf16 {matmul_tflops(device, torch.bfloat16, False):.0f} TFLOP/s", flush=True)
    rows, notes = [], []
    for index, arch in enumerate(args.archs):
        if args.deadline is not None and time.perf_counter() - began > args.deadline:
            notes.append(f"not run (the --deadline of {args.deadline:.0f} s had passed): {', '.join(args.archs[index:])}")
            break
        torch.manual_seed(0)
        network = VoltaForPretraining(VoltaConfig.for_arch(arch)).eval()
        model = VoltaBackend(network, arch, source="random weights", device=device)
        if index == 0:
            per_1000 = prepare_seconds(model, examples, average, 1000)
            notes.append(f"host: `prepare` alone takes {per_1000:.2f} s per 1,000 phrases on one thread "
                         f"({per_1000 * examples.n_phrases / 1000:.1f} s for the set)")
        compare = list(islice(examples, max(1, args.compare // 2)))
        reference = scores(results(model, compare, average, "fp32", args.batch_size, args.compare))
        deviation = {
            p: float(np.nanmax(np.abs(scores(results(model, compare, average, p, args.batch_size, args.compare)) - reference)))
            for p in ("tf32", "bf16")
        }
        run(model, compare, average, args.precision, args.batch_size, args.batch_size)  # warm-up
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        done, seconds = run(model, examples, average, args.precision, args.batch_size, budget=args.budget)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
        rate = done / seconds
        whole = f"{seconds:.1f} s" if done == examples.n_phrases else (
            f"{examples.n_phrases / rate:.0f} s at that rate (partial: {done} phrases in {seconds:.0f} s)")
        rows.append(f"| volta:{arch} | {rate:.0f} | {whole} | {peak:.1f} GiB | "
                    f"{deviation['tf32']:.2e} bits | {deviation['bf16']:.2e} bits |")
        print(rows[-1], flush=True)
        if index == 0 and args.no_prefetch_row:
            n = min(args.no_prefetch_row, examples.n_phrases)
            with_thread = run(model, examples, average, args.precision, args.batch_size, limit=n, prefetch=True)
            without = run(model, examples, average, args.precision, args.batch_size, limit=n, prefetch=False)
            notes.append(f"volta:{arch}, first {n} phrases: {with_thread[0] / with_thread[1]:.0f} phrases/s with the "
                         f"second thread, {without[0] / without[1]:.0f} without "
                         f"({without[1] / with_thread[1]:.2f}x)")
            print(notes[-1], flush=True)
        del model, network
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print(f"\n| model | phrases/s ({args.precision}) | whole set | peak GPU memory | max abs. deviation from fp32 "
          f"over {args.compare} phrases: tf32 | bf16 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    print("\n" + "\n".join(f"- {note}" for note in notes))
    print(f"\n(script total {time.perf_counter() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
