"""How much VOLTA's batch-coupled VL-BERT positions move the scores, on a synthetic fixture.

Full-size VL-BERT (the shipped config) with random weights (nothing downloaded): BERT's
initialisation (normal 0.02, ``--init bert``) or torch's defaults (embeddings normal 1,
``--init torch``, which makes positions matter far more), captions of 5 to 25 words on 36
random 2048-d regions; the whole set is run
with ``vlbert_positions="per-caption"`` and ``"volta-batch16"`` and the six scores compared
phrase by phrase. Not a timing; the result table is in docs/vlbert-positions.md.

    HF_HUB_OFFLINE=1 python benchmarks/measure_vlbert_positions.py --phrases 48 --init bert
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from synthetic import varied_region_examples  # benchmarks/ is on sys.path

from vlexplore.engine import PUBLISHED_BATCH_SIZE, diagnose_dataset, published_shift_from
from vlexplore.models.volta import VoltaBackend, VoltaConfig, VoltaForPretraining
from vlexplore.records import ExampleSet
from vlexplore.text import caption_length

SCORES = ["mlm_bits_none", "mlm_bits_object", "mlm_bits_all", "mrc_kl_bits_none", "mrc_kl_bits_phrase", "mrc_kl_bits_all"]


def bert_init(model: torch.nn.Module, seed: int) -> None:
    """BERT's initialisation (weights normal 0.02, biases 0, LayerNorm 1 and 0)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict(keep_vars=True).items():
            if "LayerNorm" in name or "layer_norm" in name or "visual_ln" in name:
                tensor.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                tensor.zero_()
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phrases", type=int, default=64, help="phrases (batches of 16 in order)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", choices=["bert", "torch"], default="bert", help="random weights (default bert)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    network = VoltaForPretraining(VoltaConfig.for_arch("vl-bert")).eval()  # torch's initialisation
    if args.init == "bert":
        bert_init(network, args.seed)
    model = VoltaBackend(network, "vl-bert", source="random weights")
    dataset = ExampleSet("varied", varied_region_examples(args.phrases, args.seed))
    units = [(ex, 0) for ex in dataset.examples]
    shortest = published_shift_from(model, units)
    own = [caption_length(model.tokenizer, ex.caption, model.max_text_length) for ex, _ in units]
    moved = [o > s for o, s in zip(own, shortest, strict=True)]
    runs = {
        rule: list(diagnose_dataset(model, dataset, batch_size=4, progress=False, vlbert_positions=rule))
        for rule in ("per-caption", "volta-batch16")
    }
    print(f"{len(units)} phrases in batches of {PUBLISHED_BATCH_SIZE}; caption lengths {min(own)}-{max(own)} tokens; "
          f"{sum(moved)} ({np.mean(moved):.0%}) longer than their batch's shortest, "
          f"{np.mean([o - s for o, s in zip(own, shortest, strict=True)]):.1f} tokens past it on average")
    print()
    print("| score | per-caption (bits) | volta-batch16 (bits) | difference of means | mean abs difference per phrase | largest |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for score in SCORES:
        a = np.array([getattr(r, score) for r in runs["per-caption"]])
        b = np.array([getattr(r, score) for r in runs["volta-batch16"]])
        keep = ~np.isnan(a)
        a, b = a[keep], b[keep]
        diff = b - a
        print(f"| {score} | {a.mean():.3f} | {b.mean():.3f} | {diff.mean():+.3f} | {np.abs(diff).mean():.3f} | "
              f"{np.abs(diff).max():.3f} |")


if __name__ == "__main__":
    main()
