"""Throughput of the diagnostic on the five VOLTA architectures, and how close to peak it runs.

Each architecture is built at full size from its shipped config with random weights
(nothing downloaded). One *example* is one (image, sentence, phrase): the engine runs its
six conditions (three Vision-for-Language, three Language-for-Vision) in one batched
forward of six rows, 36 regions + the global row, a 16-token caption. We time
``diagnose_dataset`` over a few examples (one phrase per forward, after a warm-up), count
the forward's floating-point operations with ``torch.utils.flop_counter``, and compare the
achieved rate with this machine's fp32 matmul peak, measured in the same run with a large
``torch.matmul``. Run:

    HF_HUB_OFFLINE=1 python benchmarks/bench_volta.py [--examples 6] [--threads 2] [--batch-size 1]

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from synthetic import region_example  # benchmarks/ is on sys.path
from timing import run_times
from torch.utils.flop_counter import FlopCounterMode

from vlexplore.engine import diagnose_dataset
from vlexplore.inputs import collate, prepare
from vlexplore.models.volta import (
    ARCHS,
    VoltaBackend,
    VoltaConfig,
    VoltaForPretraining,
)
from vlexplore.models.volta import modules as volta_modules
from vlexplore.records import Example, ExampleSet


def matmul_peak(size: int = 2048, repeats: int = 7) -> float:
    """fp32 FLOP/s of a large square matmul (median of ``repeats``).

    Taken again right before each architecture, so that both numbers see the same load on
    a shared machine.
    """
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / statistics.median(run_times(lambda: torch.matmul(a, b), repeats))


def _attend_as_matmuls(query, keys, values, biases):
    """volta_modules._attend spelled with matmuls: the flop counter does not see CPU SDPA kernels."""
    key, value, bias = torch.cat(keys, 2), torch.cat(values, 2), torch.cat(biases, -1)
    scores = query @ key.transpose(-1, -2) / query.shape[-1] ** 0.5 + bias
    context = torch.softmax(scores, -1) @ value
    return context.transpose(1, 2).flatten(2)


def forward_flops(model: VoltaBackend, example: Example, average: np.ndarray) -> int:
    batch = collate([prepare(model, example, 0, average_feature=average)])
    fast = volta_modules._attend
    volta_modules._attend = _attend_as_matmuls
    try:
        with FlopCounterMode(display=False) as counter:
            model.forward(batch)
    finally:
        volta_modules._attend = fast
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=6, help="timed examples per architecture")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--batch-size", type=int, default=1, help="phrases per forward (6 rows each); default 1"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    examples = ExampleSet("bench", [region_example(i) for i in range(args.examples)])
    average = examples.average_region_feature()
    print(
        f"torch {torch.__version__}, {args.threads} threads, {args.batch_size} phrase(s) per forward, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print()
    print(
        "| model | parameters | GFLOP per example | examples/s | s per example | GFLOP/s "
        "| matmul peak GFLOP/s | % of peak |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for arch in ARCHS:
        torch.manual_seed(0)
        network = VoltaForPretraining(VoltaConfig.for_arch(arch)).eval()
        params = sum(p.numel() for p in {id(p): p for p in network.parameters()}.values())
        model = VoltaBackend(network, arch, source="random weights")
        flops = forward_flops(model, examples[0], average)
        warm = ExampleSet("warm", examples.examples[:1])
        list(diagnose_dataset(model, warm, limit=1, batch_size=1, progress=False))
        peak = matmul_peak()
        start = time.perf_counter()
        results = list(
            diagnose_dataset(
                model,
                examples,
                limit=args.examples,
                batch_size=args.batch_size,
                progress=False,
                average_feature=average,
            )
        )
        seconds = time.perf_counter() - start
        rate = len(results) / seconds
        print(
            f"| volta:{arch} | {params / 1e6:.0f} M | {flops / 1e9:.1f} | {rate:.2f} | {1 / rate:.2f} | "
            f"{flops * rate / 1e9:.1f} | {peak / 1e9:.0f} | {100 * flops * rate / peak:.0f}% |",
            flush=True,
        )
        del model, network


if __name__ == "__main__":
    main()
