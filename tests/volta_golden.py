"""Deterministic small VOLTA models and inputs shared by the reference-output test and the
script that produced ``tests/data/volta_reference_outputs.npz``.

That file holds the outputs of the authors' own implementation (e-bug/volta, first
release, run outside this repository on CPU) for these exact weights and inputs: for each
architecture the MLM logits over the first 64 vocabulary entries at every position, the
region logits over the first 64 classes at every region, and the ITM logits.
"""

from __future__ import annotations

from collections import defaultdict

import torch

from vlexplore.models.volta import VoltaConfig, VoltaForPretraining

SEED = 1234
KEEP = 64  # vocabulary entries / region classes stored per position


def golden_config(arch: str) -> VoltaConfig:
    """Each layout's last 6 sublayers, hidden 64, 64-d region features."""
    changes = dict(hidden_size=64, v_hidden_size=64, num_attention_heads=4, v_num_attention_heads=4,
                   intermediate_size=96, v_intermediate_size=96, pooler_size=48, v_pooler_size=48,
                   v_feature_size=64)  # fmt: skip
    if arch == "vl-bert":
        changes["v_coordinate_embeddings_dim"] = 8  # 4 coordinates x (sin, cos) x 8 = 64
    return VoltaConfig.for_arch(arch).replace(**changes).keep_last_sublayers(6)


def seeded_state(model: VoltaForPretraining, seed: int = SEED) -> dict[str, torch.Tensor]:
    """Random values for every key (sorted order), tied keys sharing one tensor."""
    generator = torch.Generator().manual_seed(seed)
    groups: dict[int, list[str]] = defaultdict(list)
    for name, tensor in model.state_dict(keep_vars=True).items():
        groups[id(tensor)].append(name)
    state = {}
    for names in sorted(groups.values(), key=lambda names: sorted(names)[0]):
        first = sorted(names)[0]
        shape = model.state_dict()[first].shape
        norm = any(part in first for part in ("LayerNorm", "layer_norm", "visual_ln"))
        value = torch.randn(shape, generator=generator) * (0.3 if norm else 0.08)
        if norm and first.endswith("weight"):
            value = value + 1.0
        for name in names:
            state[name] = value
    return state


def golden_inputs(feature_dim: int = 64):
    """Two rows: captions of 9 and 6 tokens (padded to 9), 5 regions + global, one zeroed."""
    generator = torch.Generator().manual_seed(SEED + 1)
    ids = torch.randint(1000, 30000, (2, 9), generator=generator)
    ids[:, 0] = 101
    ids[0, 8] = 102
    ids[1, 5], ids[1, 6:] = 102, 0
    mask = (ids != 0).long()
    feat = torch.rand(2, 6, feature_dim, generator=generator) * 2
    feat[:, 0] = feat[:, 1:].mean(1)
    feat[1, 3] = 0  # VL-BERT swaps a zeroed region for its mask embedding
    corner = torch.rand(2, 5, 2, generator=generator) * 0.5
    size = torch.rand(2, 5, 2, generator=generator) * 0.5
    loc = torch.cat([corner, corner + size], -1)
    area = (loc[..., 2] - loc[..., 0]) * (loc[..., 3] - loc[..., 1])
    loc = torch.cat(
        [torch.tensor([0.0, 0, 1, 1, 1]).expand(2, 1, 5), torch.cat([loc, area[..., None]], -1)], 1
    )
    image_mask = torch.ones(2, 6, dtype=torch.long)
    image_mask[0, 5] = 0
    return ids, feat, loc, torch.zeros_like(ids), mask, image_mask
