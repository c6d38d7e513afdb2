"""Time, work and peak memory of the full-size detector on one 500x375 photo, on CPU.

The detector is built at the published sizes (ResNet-101 C4, 1,601 classes, 401 attributes,
300 proposals: ``DetectorConfig()``) with torch's default random initialisation: nothing is
downloaded, and the shapes, hence the work, are the real ones. One process, in this order:

1. the fp32 matmul rate of this machine right now (median of 5 runs of a 2048-cubed
   ``torch.matmul``), for scale: the machine may be shared;
2. the work of each stage, counted with ``torch.utils.flop_counter`` (backbone on the
   600x800 input, res5 on one region, times the proposals);
3. one ``detect`` of the generated 500x375 photo (short side resized to 600: a 600x800
   input) in the given mode, with the wall time of each stage;
4. peak resident memory of the process (``ru_maxrss``), and the time the counted work would
   take at the matmul rate of step 1 (a lower bound for this machine at that moment).

Run:

    HF_HUB_OFFLINE=1 python benchmarks/bench_detector.py [--threads 2] [--mode caffe]

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import resource
import statistics

import numpy as np
import torch
from timing import run_times  # benchmarks/ is on sys.path
from torch.utils.flop_counter import FlopCounterMode

from vlexplore.detector import Detector, DetectorConfig, FasterRCNN
from vlexplore.detector.preprocess import prepare


def photo(width: int = 500, height: int = 375) -> np.ndarray:
    rng = np.random.RandomState(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([110 + 70 * np.sin(x / 31.0 + c) * np.cos(y / 19.0 - c) for c in range(3)], axis=-1)
    for _ in range(8):
        x0, y0 = rng.randint(0, width - 40), rng.randint(0, height - 40)
        image[y0 : y0 + rng.randint(20, 200), x0 : x0 + rng.randint(20, 250)] = rng.randint(0, 256, 3)
    return np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    seconds = statistics.median(run_times(lambda: torch.matmul(a, b), repeats, warm_up=False))
    return 2 * size**3 / seconds / 1e9


def gflop(function, *args) -> float:
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        function(*args)
    return counter.get_total_flops() / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mode", default="caffe", choices=("caffe", "hf"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    peak = matmul_gflops()
    model = FasterRCNN(DetectorConfig())
    image = photo()
    inputs = prepare(image, model.config, args.mode)
    res4 = model.backbone(inputs.pixels)
    proposals = model.config.rpn_post_nms
    pooled = torch.randn(1, res4.shape[1], model.config.pool_size, model.config.pool_size)
    work = {
        "resize + backbone": gflop(model.backbone, inputs.pixels),
        "region head": gflop(model.roi_heads.res5, pooled) * proposals,
    }
    regions = Detector(model, "random full-size", args.mode).detect(image)
    seconds = regions.seconds
    total = sum(seconds.values())

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"torch {torch.__version__}, {args.threads} threads, mode {args.mode}, one 500x375 photo "
          f"(input {inputs.input_width}x{inputs.input_height}), {regions.num_proposals} proposals, "
          f"{regions.num_boxes} regions; fp32 matmul now: {peak:.0f} GFLOP/s\n")  # fmt: skip
    print("| stage | seconds | GFLOP | GFLOP/s |")
    print("| --- | ---: | ---: | ---: |")
    for stage, value in seconds.items():
        flops = work.get(stage)
        rate = f"{flops / value:.0f}" if flops else ""
        print(f"| {stage} | {value:.2f} | {f'{flops:.0f}' if flops else ''} | {rate} |")
    all_work = sum(work.values())
    print(f"| **total** | **{total:.2f}** | {all_work:.0f} | {all_work / total:.0f} |")
    print(f"\npeak resident memory: {peak_mib:.0f} MiB")
    print(f"lower bound at the matmul rate: {all_work / peak:.1f} s")


if __name__ == "__main__":
    main()
