"""Time the Hugging Face backends at their real sizes (random weights, nothing downloaded).

ViLT-B/32, LXMERT-base and VisualBERT-base are built from their published architecture
settings with random weights, so the cost of one diagnosis (all conditions of a phrase in
one forward) and of a dataset batch can be measured offline. Run:

    HF_HUB_OFFLINE=1 python benchmarks/bench_hf.py [--repeats 3] [--device cpu]

Prints a markdown table (median seconds).
"""

from __future__ import annotations

import argparse
import statistics

import torch
from synthetic import pixel_example, region_example  # benchmarks/ is on sys.path
from timing import run_times

from vlexplore.engine import diagnose, diagnose_dataset
from vlexplore.models.hf_lxmert import HFLxmert
from vlexplore.models.hf_vilt import HFVilt
from vlexplore.models.hf_visualbert import HFVisualBert
from vlexplore.records import ExampleSet
from vlexplore.text import bert_tokenizer


def build(kind: str, device: torch.device):
    import transformers

    tokenizer = bert_tokenizer()
    torch.manual_seed(0)
    if kind == "vilt":
        config = transformers.ViltConfig(max_image_length=-1)
        model = transformers.ViltForMaskedLM(config).eval()
        processor = transformers.ViltImageProcessorPil()
        return HFVilt(model, tokenizer, processor, "hf:vilt-b32 (random)", device, "bert")
    if kind == "lxmert":
        model = transformers.LxmertForPreTraining(transformers.LxmertConfig()).eval()
        return HFLxmert(model, tokenizer, "hf:lxmert-base (random)", device, "bert")
    config = transformers.VisualBertConfig(visual_embedding_dim=2048)
    model = transformers.VisualBertForPreTraining(config).eval()
    return HFVisualBert(model, tokenizer, "hf:visualbert-base (random)", device, "bert")


def median_seconds(function, repeats: int) -> float:
    return statistics.median(run_times(function, repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch threads: {torch.get_num_threads()}, device: {device}")
    print("| model | one phrase (diagnose) | 8 phrases (dataset batch) |")
    print("| --- | --- | --- |")
    for kind in ("vilt", "lxmert", "visualbert"):
        model = build(kind, device)
        make = pixel_example if kind == "vilt" else region_example
        examples = ExampleSet(kind, [make(i) for i in range(4)])
        one = median_seconds(lambda m=model, e=examples: diagnose(m, e[0], 0), args.repeats)
        batch = median_seconds(
            lambda m=model, e=examples: list(diagnose_dataset(m, e, batch_size=8, progress=False)),
            args.repeats,
        )
        print(f"| {model.name} | {one:.2f} s | {batch:.2f} s |")
        del model


if __name__ == "__main__":
    main()
