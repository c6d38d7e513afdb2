"""The five VOLTA architectures on a GPU: phrases/s, peak memory, and what tf32/bf16 cost in bits.

A synthetic set of Flickr30k Entities val's size (``synthetic.flickr_sized``: 1,000 images,
5 captions each, 14,433 phrases, 36 regions of 2048-d features, a 1,601-way detector
distribution; generated as it is read) goes through each architecture built at full size
from its shipped config with random weights (nothing downloaded), on one CUDA device,
with ``diagnose_dataset`` (length buckets on). For each architecture:

* the timed run: every phrase at ``--precision`` (default tf32), after a warm-up batch;
  phrases/s and the peak of ``torch.cuda.max_memory_allocated``;
* the deviation: the first ``--compare`` phrases at fp32, tf32 and bf16; the largest
  absolute difference of any of the six scores from fp32's, in bits.

Target (issue 15): the whole set in <= 60 s per model on one H100 in tf32. Run:

    HF_HUB_OFFLINE=1 python benchmarks/bench_gpu.py [--phrases 14433] [--compare 512] [--batch-size 32]

Prints a markdown table. Needs a CUDA GPU (``--device cpu`` runs the same code on a CPU,
slowly, to check the script itself).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's vlexplore

import numpy as np  # noqa: E402
import torch  # noqa: E402
from synthetic import flickr_sized  # noqa: E402  (benchmarks/ is on sys.path)

from vlexplore.engine import diagnose_dataset  # noqa: E402
from vlexplore.models.volta import ARCHS, VoltaBackend, VoltaConfig, VoltaForPretraining  # noqa: E402

SCORES = ("mlm_bits_none", "mlm_bits_object", "mlm_bits_all", "mrc_kl_bits_none", "mrc_kl_bits_phrase", "mrc_kl_bits_all")


def scores(results) -> np.ndarray:
    """(phrases, 6) scores in bits."""
    return np.array([[getattr(r, name) for name in SCORES] for r in results], dtype=np.float64)


def run(model, examples, average, precision: str, batch_size: int, limit: int | None = None):
    return list(
        diagnose_dataset(
            model, examples, limit=limit, batch_size=batch_size, progress=False, average_feature=average,
            precision=precision,
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phrases", type=int, default=14433, help="phrases in the timed run (default: all)")
    parser.add_argument("--compare", type=int, default=512, help="phrases run at fp32, tf32 and bf16")
    parser.add_argument("--precision", default="tf32", help="precision of the timed run (default tf32)")
    parser.add_argument("--batch-size", type=int, default=32, help="phrases per forward (6 rows each)")
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: skipped, no CUDA GPU here; run it on a GPU machine (or --device cpu to check the script)")
        return 0  # `make bench` on a CPU machine: nothing to measure, not a failure
    n_images = max(1, round(args.phrases / 14.433))
    examples = flickr_sized(n_images=n_images, n_phrases=min(max(args.phrases, 10 * n_images), 15 * n_images))
    average = examples.average_region_feature()
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{card}, torch {torch.__version__}, {examples.n_phrases} phrases ({n_images} images), "
          f"batch {args.batch_size} phrases, timed at {args.precision}, load average {os.getloadavg()[0]:.1f}\n")
    print(f"| model | phrases/s ({args.precision}) | whole set | peak GPU memory | max abs. deviation from fp32 "
          f"over {args.compare} phrases: tf32 | bf16 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for arch in args.archs:
        torch.manual_seed(0)
        network = VoltaForPretraining(VoltaConfig.for_arch(arch)).eval()
        model = VoltaBackend(network, arch, source="random weights", device=device)
        compare = list(islice(examples, max(1, args.compare // 2)))
        reference = scores(run(model, compare, average, "fp32", args.batch_size, args.compare))
        deviation = {
            p: float(np.nanmax(np.abs(scores(run(model, compare, average, p, args.batch_size, args.compare)) - reference)))
            for p in ("tf32", "bf16")
        }
        run(model, compare, average, args.precision, args.batch_size, args.batch_size)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        done = len(run(model, examples, average, args.precision, args.batch_size))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
        print(f"| volta:{arch} | {done / seconds:.3g} | {seconds:.1f} s | {peak:.1f} GiB | "
              f"{deviation['tf32']:.2e} bits | {deviation['bf16']:.2e} bits |", flush=True)
        del model, network
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
