"""vlexplore against the authors' evaluation pattern, same phrases, same weights, one run.

The reference pattern (as the paper's evaluation scripts run it; written here from that
description, no code copied): one pass over the data per condition (six passes), batches of
16 phrases with one row each, every caption padded to 38 tokens and every image to its 36
regions + the global row, and the full forward with every head (the 30,522-way MLM decoder
at all 38 positions, the region head at every region, ITM); the scores are then read at the
phrase's tokens and the target region. vlexplore's run is ``diagnose_dataset`` (the six
conditions of a phrase in one forward, heads and the encoder's last layer only where read,
length buckets, and for LXMERT/ViLBERT the shared unimodal streams).

Inputs: ``synthetic.region_example`` (36 random 2048-d regions, a 16-word caption, two
phrases per caption), random full-size weights per architecture. For each, the fp32 matmul
rate is measured right before (``bench_volta.matmul_peak``), and each run's achieved
GFLOP/s (FLOPs counted with ``torch.utils.flop_counter`` on one batch of each) is given as a
share of it, with the ratio of CPU time (user + system, all threads), which other jobs on a
shared machine disturb less than wall time. Run:

    HF_HUB_OFFLINE=1 python benchmarks/bench_reference.py [--phrases 16] [--archs lxmert uniter] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's vlexplore

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_volta import _attend_as_matmuls, matmul_peak  # noqa: E402
from synthetic import region_example  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from vlexplore.engine import diagnose_dataset  # noqa: E402
from vlexplore.inputs import collate, prepare  # noqa: E402
from vlexplore.models.volta import ARCHS, VoltaBackend, VoltaConfig, VoltaForPretraining  # noqa: E402
from vlexplore.models.volta import modules as volta_modules  # noqa: E402
from vlexplore.protocol.scoring import mlm_scores, mrc_kl_bits  # noqa: E402
from vlexplore.records import ExampleSet  # noqa: E402

PAD_TO, BATCH = 38, 16


def reference_batches(model: VoltaBackend, items, passes: int | None = None):
    """(condition, VOLTA inputs, items) per batch: one condition per pass, 16 rows, 38 tokens."""
    conditions = items[0].conditions
    for index, condition in enumerate(conditions[:passes]):
        for start in range(0, len(items), BATCH):
            chunk = [replace(item, rows=[item.rows[index]]) for item in items[start : start + BATCH]]
            batch = collate(chunk)
            t = batch.input_ids.shape[1]
            batch.input_ids = torch.nn.functional.pad(batch.input_ids, (0, PAD_TO - t))
            batch.attention_mask = torch.nn.functional.pad(batch.attention_mask, (0, PAD_TO - t))
            yield condition, model.volta_inputs(batch), chunk


def reference_run(model: VoltaBackend, items, passes: int | None = None) -> list[float]:
    """The reference pattern over prepared phrases; returns the scores (to use them, as it would).
    ``passes``: stop after that many conditions (every pass has the same shapes)."""
    scores = []
    with torch.inference_mode():
        for (side, _), inputs, chunk in reference_batches(model, items, passes):
            out = model.model(**inputs)  # full heads: (B, 38, 30522), (B, 37, 1601), ITM
            for row, item in enumerate(chunk):
                positions = torch.tensor(item.encoded.phrase_positions)
                if side == "vis4lang":
                    gold = torch.tensor(item.encoded.input_ids)[positions]
                    scores.append(float(mlm_scores(out.text_logits[row, positions], gold).mlm_bits.mean()))
                elif out.region_logits is not None:
                    target = item.alignment.target + 1  # the global row first
                    scores.append(float(mrc_kl_bits(item.detector_targets[0], out.region_logits[row, target])))
    return scores


def counted_flops(run) -> int:
    fast = volta_modules._attend
    volta_modules._attend = _attend_as_matmuls  # the counter does not see CPU SDPA kernels
    try:
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            run()
    finally:
        volta_modules._attend = fast
    return counter.get_total_flops()


def ours_run(model: VoltaBackend, examples, average, phrases: int, batch_size: int) -> list:
    return list(diagnose_dataset(model, examples, limit=phrases, batch_size=batch_size, progress=False,
                                 average_feature=average))


def timed(run) -> tuple[float, float]:
    """(wall, CPU) seconds of one call; CPU is this process's user + system time, all threads."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(arch: str, examples, average, args) -> str:
    """One table row: both patterns on the same phrases and weights, back to back (alternating
    ``--repeats`` times; the fastest of each is kept, the least disturbed by other jobs)."""
    torch.manual_seed(0)
    model = VoltaBackend(VoltaForPretraining(VoltaConfig.for_arch(arch)).eval(), arch, device="cpu")
    items = [prepare(model, ex, j, average_feature=average) for ex in examples for j in ex.diagnosable_phrases()]
    items = items[: args.phrases]
    n = len(items)
    passes = len(items[0].conditions)
    theirs_flops = counted_flops(partial(reference_run, model, items[:BATCH], 1)) * passes * n / BATCH
    our_flops = counted_flops(partial(ours_run, model, examples, average, args.batch_size, args.batch_size))
    our_flops *= n / args.batch_size  # (also the warm-up of vlexplore's path)
    peak = matmul_peak()
    runs = {"reference": [], "vlexplore": []}
    for _ in range(args.repeats):
        runs["reference"].append(timed(partial(reference_run, model, items)))
        runs["vlexplore"].append(timed(partial(ours_run, model, examples, average, n, args.batch_size)))
    (reference_s, reference_cpu), (ours_s, ours_cpu) = (min(runs[k]) for k in ("reference", "vlexplore"))
    return (f"| volta:{arch} | {reference_s / n:.2f} | {ours_s / n:.2f} | {reference_s / ours_s:.2f}x | "
            f"{reference_cpu / ours_cpu:.2f}x | {theirs_flops / n / 1e9:.1f} | {our_flops / n / 1e9:.1f} | "
            f"{peak / 1e9:.0f} | {100 * theirs_flops / reference_s / peak:.0f}% | "
            f"{100 * our_flops / ours_s / peak:.0f}% | {os.getloadavg()[0]:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phrases", type=int, default=16, help="phrases (two per image), a multiple of 16")
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    parser.add_argument("--batch-size", type=int, default=8, help="vlexplore's phrases per forward")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of each pattern; the fastest is kept")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    examples = ExampleSet("bench", [region_example(i) for i in range((args.phrases + 1) // 2)])
    average = examples.average_region_feature()
    print(f"torch {torch.__version__}, {args.threads} threads, {args.phrases} phrases, vlexplore batch "
          f"{args.batch_size} phrases, reference batch {BATCH} rows padded to {PAD_TO} tokens, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| model | reference s/phrase | vlexplore s/phrase | speed-up | CPU-time ratio | reference GFLOP/phrase "
          "| vlexplore GFLOP/phrase | matmul GFLOP/s | reference % of it | vlexplore % of it | load after |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for arch in args.archs:
        print(measure(arch, examples, average, args), flush=True)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
