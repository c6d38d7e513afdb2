"""Time and peak memory of the full-size detector on one 500x375 photo, on CPU.

The detector is built at the published sizes (ResNet-101 C4, 1,601 classes, 401 attributes,
300 proposals; ``DetectorConfig()``) with torch's default random initialisation: nothing is
downloaded, and the shapes, hence the work, are the real ones. Each variant runs in its own
process (so its peak resident memory is its own), one after the other, on the same
generated 500x375 photo (short side resized to 600: a 600x800 input):

- ``reference``: what the reference implementation does: res5 over all 300 proposals, in
  torch's default (NCHW) layout;
- ``vlexplore``: res5 once per distinct set of RoIPool bins, in channels-last layout.

Both produce the same regions (tests/test_detector.py checks the hf mode against the
reference's outputs). Run:

    HF_HUB_OFFLINE=1 python benchmarks/bench_detector.py [--threads 2] [--mode caffe]

Prints a markdown table: seconds per stage, total, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

VARIANTS = ("reference", "vlexplore")


def photo(width: int = 500, height: int = 375) -> np.ndarray:
    rng = np.random.RandomState(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack(
        [110 + 70 * np.sin(x / 31.0 + c) * np.cos(y / 19.0 - c) for c in range(3)], axis=-1
    )
    for _ in range(8):
        x0, y0 = rng.randint(0, width - 40), rng.randint(0, height - 40)
        image[y0 : y0 + rng.randint(20, 200), x0 : x0 + rng.randint(20, 250)] = rng.randint(
            0, 256, 3
        )
    return np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)


def run_variant(variant: str, mode: str, threads: int) -> dict:
    from vlexplore.detector import Detector, DetectorConfig, FasterRCNN

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = FasterRCNN(DetectorConfig())
    if variant == "reference":
        model.roi_heads.deduplicate = False
        model.use_channels_last(False)
    detector = Detector(model, "random full-size", mode)
    start = time.perf_counter()
    regions = detector.detect(photo())
    total = time.perf_counter() - start
    return {
        "variant": variant,
        "seconds": regions.seconds,
        "total": total,
        "regions": regions.num_boxes,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "features_sum": float(np.abs(regions.features).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mode", default="caffe", choices=("caffe", "hf"))
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.mode, args.threads)))
        return
    rows = []
    for variant in VARIANTS:
        command = [
            sys.executable,
            __file__,
            "--variant",
            variant,
            "--mode",
            args.mode,
            "--threads",
            str(args.threads),
        ]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    stages = list(rows[0]["seconds"])
    print(
        f"torch {torch.__version__}, {args.threads} threads, mode {args.mode}, one 500x375 photo (input 600x800)\n"
    )
    print("| variant | " + " | ".join(stages) + " | total s | peak RSS MiB | regions |")
    print("| --- | " + " | ".join("---:" for _ in stages) + " | ---: | ---: | ---: |")
    for row in rows:
        cells = " | ".join(f"{row['seconds'][s]:.2f}" for s in stages)
        print(
            f"| {row['variant']} | {cells} | {row['total']:.2f} | {row['peak_mib']:.0f} | {row['regions']} |"
        )
    ratio = rows[0]["total"] / rows[1]["total"]
    head = rows[0]["seconds"]["region head"] / rows[1]["seconds"]["region head"]
    print(f"\nreference / vlexplore: {ratio:.2f}x in total, {head:.2f}x in the region head")


if __name__ == "__main__":
    main()
