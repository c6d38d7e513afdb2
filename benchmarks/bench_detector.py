"""Time, work, peak memory and precision of the full-size detector on a 500x375 photo, on CPU.

The detector is built at the published sizes (ResNet-101 C4, 1,601 classes, 401 attributes,
300 proposals: ``DetectorConfig()``) with torch's default random initialisation: nothing is
downloaded, and the shapes, hence the work, are the real ones. One process, in this order:

1. the fp32 and bf16 matmul rates of this machine right now (median of 5 runs of a
   2048-cubed ``torch.matmul``), for scale: the machine may be shared;
2. the work of each stage, counted with ``torch.utils.flop_counter`` (backbone on the
   600x800 input, the RPN head on res4, res5 on one region times the proposals);
3. ``--repeats`` generated 500x375 photos (short side resized to 600: a 600x800 input), each
   detected at every ``--precisions`` back to back (the order alternates from photo to photo),
   with the wall time of each stage; the table gives the median per stage and precision, and
   the ratio of the medians to fp32's; below it, each photo's total wall and CPU time
   (``time.process_time``, both threads: less sensitive than wall time to other processes on
   a shared machine) per precision and the paired ratios, whose median is the figure to quote;
4. how far each precision's regions are from fp32's on the same photo: how many of the 36
   chosen proposals are the same, the mean IoU of each fp32 box with its best match, and for
   the regions both chose, the cosine and largest absolute difference of the 2048-d features
   and whether the top-1 class agrees;
5. peak resident memory of the process (``ru_maxrss``), and the time the counted work would
   take at the fp32 matmul rate of step 1 (a lower bound for this machine at that moment).

``--res5-variants`` instead times res5 alone on 32 pooled regions of the photo in several
implementations (layouts, oneDNN on/off, autocast, bf16 weights, ``torch.jit.freeze``,
``torch.compile`` with its compile time), interleaved, median of ``--repeats``.

Run:

    HF_HUB_OFFLINE=1 python benchmarks/bench_detector.py [--threads 2] [--mode caffe] [--repeats 3]
    HF_HUB_OFFLINE=1 python benchmarks/bench_detector.py --res5-variants [--repeats 5]

Prints markdown tables.
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import time

import numpy as np
import torch
from timing import run_times  # benchmarks/ is on sys.path
from torch.utils.flop_counter import FlopCounterMode

from vlexplore.detector import DETECTOR_PRECISIONS, Detector, DetectorConfig, FasterRCNN
from vlexplore.detector.ops import pairwise_iou, roi_pool
from vlexplore.detector.precision import Bf16Convs, fold_batch_norms
from vlexplore.detector.preprocess import prepare


def photo(width: int = 500, height: int = 375, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([110 + 70 * np.sin(x / 31.0 + c + seed) * np.cos(y / 19.0 - c) for c in range(3)], axis=-1)
    for _ in range(8):
        x0, y0 = rng.randint(0, width - 40), rng.randint(0, height - 40)
        image[y0 : y0 + rng.randint(20, 200), x0 : x0 + rng.randint(20, 250)] = rng.randint(0, 256, 3)
    return np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)


def matmul_gflops(dtype: torch.dtype = torch.float32, size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    seconds = statistics.median(run_times(lambda: torch.matmul(a, b), repeats, warm_up=True))
    return 2 * size**3 / seconds / 1e9


def gflop(function, *args) -> float:
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        function(*args)
    return counter.get_total_flops() / 1e9


def deviation(reference, other) -> dict[str, float]:
    """How far ``other``'s regions are from ``reference``'s (same photo, same detector weights)."""
    iou = pairwise_iou(torch.from_numpy(reference.boxes), torch.from_numpy(other.boxes)).numpy()
    best, best_iou = iou.argmax(1), iou.max(1)
    same = best_iou == 1.0  # the same proposal chosen by both
    a, b = reference.features[same], other.features[best[same]]
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    top1 = reference.objects[0][same] == other.objects[0][best[same]]
    return {
        "same boxes": int(same.sum()),
        "mean best IoU": float(best_iou.mean()),
        "min cosine": float(cosine.min()) if same.any() else float("nan"),
        "max abs diff": float(np.abs(a - b).max()) if same.any() else float("nan"),
        "feature scale": float(np.abs(a).max()) if same.any() else float("nan"),
        "top-1 agree": float(top1.mean()) if same.any() else float("nan"),
    }


def compare_precisions(args, model: FasterRCNN) -> None:
    precisions = args.precisions.split(",")
    detectors = {p: Detector(model, "random full-size", args.mode, p) for p in precisions}
    work = {
        "resize + backbone": gflop(model.backbone, prepare(photo(), model.config, args.mode).pixels),
    }
    with torch.inference_mode():
        res4 = model.backbone(prepare(photo(), model.config, args.mode).pixels)
    work["proposals"] = gflop(model.proposal_generator.rpn_head, res4)
    pooled = torch.randn(1, res4.shape[1], model.config.pool_size, model.config.pool_size)
    work["region head"] = gflop(model.roi_heads.res5, pooled) * model.config.rpn_post_nms
    seconds = {p: [] for p in precisions}
    cpu = {p: [] for p in precisions}
    regions = {p: [] for p in precisions}
    rates = []
    for repeat in range(args.repeats):
        rates.append(matmul_gflops())
        image = photo(seed=repeat)
        order = precisions if repeat % 2 == 0 else precisions[::-1]
        for precision in order:
            start = time.process_time()
            found = detectors[precision].detect(image)
            cpu[precision].append(time.process_time() - start)
            seconds[precision].append(found.seconds)
            regions[precision].append(found)
            print(f"photo {repeat}, {precision}: {sum(found.seconds.values()):.1f} s", flush=True)
    rates.append(matmul_gflops())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def median(precision: str, stage: str | None = None) -> float:
        runs = seconds[precision]
        return statistics.median(sum(s.values()) if stage is None else s[stage] for s in runs)

    print(f"\ntorch {torch.__version__}, {args.threads} threads, mode {args.mode}, {args.repeats} photos "
          f"500x375 (input 800x600), {regions[precisions[0]][0].num_proposals} proposals; fp32 matmul "
          f"{statistics.median(rates):.0f} GFLOP/s (median of the {len(rates)} checks: "
          f"{', '.join(f'{r:.0f}' for r in rates)}), bf16 matmul {matmul_gflops(torch.bfloat16):.0f} GFLOP/s\n")  # fmt: skip
    head = " | ".join(f"{p} s" for p in precisions)
    ratios = " | ".join(f"{p} speed-up" for p in precisions[1:])
    print(f"| stage | {head} | {ratios} | GFLOP |")
    print("| --- |" + " ---: |" * (2 * len(precisions)))
    for stage in seconds[precisions[0]][0]:
        cells = " | ".join(f"{median(p, stage):.2f}" for p in precisions)
        speedups = " | ".join(f"{median(precisions[0], stage) / median(p, stage):.2f}x" for p in precisions[1:])
        flops = work.get(stage)
        print(f"| {stage} | {cells} | {speedups} | {f'{flops:.0f}' if flops else ''} |")
    cells = " | ".join(f"**{median(p):.2f}**" for p in precisions)
    speedups = " | ".join(f"**{median(precisions[0]) / median(p):.2f}x**" for p in precisions[1:])
    print(f"| **total** | {cells} | {speedups} | {sum(work.values()):.0f} |")
    print("\n| photo | " + " | ".join(f"{p} wall s | {p} CPU s" for p in precisions) + " | "
          + " | ".join(f"{p} wall speed-up | {p} CPU speed-up" for p in precisions[1:]) + " |")  # fmt: skip
    print("| --- |" + " ---: |" * (4 * len(precisions) - 2))
    walls = {p: [sum(s.values()) for s in seconds[p]] for p in precisions}
    paired = {p: ([], []) for p in precisions[1:]}
    for index in range(args.repeats):
        cells = " | ".join(f"{walls[p][index]:.1f} | {cpu[p][index]:.1f}" for p in precisions)
        for p in precisions[1:]:
            paired[p][0].append(walls[precisions[0]][index] / walls[p][index])
            paired[p][1].append(cpu[precisions[0]][index] / cpu[p][index])
        ratios = " | ".join(f"{paired[p][0][-1]:.2f}x | {paired[p][1][-1]:.2f}x" for p in precisions[1:])
        print(f"| {index} | {cells} | {ratios} |")
    ratios = " | ".join(f"**{statistics.median(paired[p][0]):.2f}x** | **{statistics.median(paired[p][1]):.2f}x**"
                        for p in precisions[1:])  # fmt: skip
    print(f"| median | {' | '.join(['', ''] * len(precisions))[1:]} | {ratios} |")
    print(f"\npeak resident memory: {peak_mib:.0f} MiB")
    print(f"fp32 lower bound at the median matmul rate: {sum(work.values()) / statistics.median(rates):.1f} s")
    for precision in precisions[1:]:
        print(f"\n{precision} against fp32, per photo (36 regions each):\n")
        rows = [deviation(a, b) for a, b in zip(regions[precisions[0]], regions[precision], strict=True)]
        print("| photo | " + " | ".join(rows[0]) + " |")
        print("| --- |" + " ---: |" * len(rows[0]))
        for index, row in enumerate(rows):
            print(f"| {index} | " + " | ".join(f"{v:.4g}" for v in row.values()) + " |")


def res5_variants(args, model: FasterRCNN) -> None:
    """res5 on 32 real pooled regions, in each implementation, interleaved; dropped ideas kept here."""
    res5 = model.roi_heads.res5
    inputs = prepare(photo(), model.config, args.mode)
    with torch.inference_mode():
        res4 = model.backbone(inputs.pixels)
        proposals, _ = model.proposal_generator(res4, inputs.input_height, inputs.input_width)
        x = roi_pool(res4[0], proposals[:32], model.config.pool_size, 1.0 / model.config.stride)
    cl = torch.channels_last
    folded = fold_batch_norms(res5).to(memory_format=cl)
    bf16_weights = copy.deepcopy(res5).to(torch.bfloat16)
    chosen = Bf16Convs(res5)
    fp32_cl = copy.deepcopy(res5).to(memory_format=cl)

    def autocast():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return res5(x).float()

    def onednn_off():
        with torch.backends.mkldnn.flags(enabled=False):
            return res5(x)

    setup = {}
    start = time.perf_counter()
    with torch.no_grad():
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(chosen.module.eval(), x[:2].to(torch.bfloat16, memory_format=cl))))  # fmt: skip
        for _ in range(2):  # the profiling executor specialises on the second call
            frozen(x[:2].to(torch.bfloat16, memory_format=cl))
    setup["bf16, torch.jit.freeze + optimize_for_inference"] = time.perf_counter() - start
    variants = {
        "fp32 (default)": lambda: res5(x),
        "fp32, channels-last": lambda: fp32_cl(x.contiguous(memory_format=cl)),
        "fp32, oneDNN off": onednn_off,
        "fp32, batch norms folded, channels-last": lambda: folded(x.contiguous(memory_format=cl)),
        "bf16, torch.autocast": autocast,
        "bf16 weights, contiguous": lambda: bf16_weights(x.bfloat16()).float(),
        "bf16, batch norms folded, channels-last (--precision bf16)": lambda: chosen(x),
        "bf16, torch.jit.freeze + optimize_for_inference": lambda: frozen(x.to(torch.bfloat16, memory_format=cl)).float(),
    }  # fmt: skip
    if args.compile:
        compiled = torch.compile(chosen)
        start = time.perf_counter()
        with torch.no_grad():
            compiled(x)
        setup["bf16, torch.compile (inductor)"] = time.perf_counter() - start
        variants["bf16, torch.compile (inductor)"] = lambda: compiled(x)
    times = {name: [] for name in variants}
    rates = []
    with torch.no_grad():
        reference = res5(x).mean(dim=(2, 3))
        error = {}
        for name, run in variants.items():
            out = run().float().mean(dim=(2, 3))
            error[name] = float(torch.nn.functional.cosine_similarity(out, reference).min())
        for _ in range(args.repeats):
            rates.append(matmul_gflops())
            for name, run in variants.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times["fp32 (default)"])
    print(f"torch {torch.__version__}, {args.threads} threads, res5 on 32 pooled regions (14x14), median of "
          f"{args.repeats} interleaved runs; fp32 matmul {statistics.median(rates):.0f} GFLOP/s\n")  # fmt: skip
    print("| res5 implementation | seconds | speed-up | min cosine to fp32 (pooled feature) | setup s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, runs in times.items():
        value = statistics.median(runs)
        extra = f"{setup[name]:.1f}" if name in setup else ""
        print(f"| {name} | {value:.2f} | {base / value:.2f}x | {error[name]:.6f} | {extra} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mode", default="caffe", choices=("caffe", "hf"))
    parser.add_argument("--repeats", type=int, default=3, help="photos (or res5 runs) per precision")
    parser.add_argument("--precisions", default=",".join(DETECTOR_PRECISIONS), help="fp32 first")
    parser.add_argument("--res5-variants", action="store_true", help="time res5 alone in several implementations")
    parser.add_argument("--compile", action="store_true", help="with --res5-variants: torch.compile too")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = FasterRCNN(DetectorConfig())
    if args.res5_variants:
        res5_variants(args, model)
    else:
        compare_precisions(args, model)


if __name__ == "__main__":
    main()
