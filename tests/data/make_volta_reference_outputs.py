"""Regenerate volta_reference_outputs.npz from the authors' VOLTA code (not part of the tests).

Needs a checkout of https://github.com/e-bug/volta (first release, commit 4d2ec14, the one
whose state-dict names volta_state_dict_keys.txt lists) and only torch:

    git -C /tmp clone https://github.com/e-bug/volta && git -C /tmp/volta checkout 4d2ec14
    VOLTA_SRC=/tmp/volta PYTHONPATH=. python tests/data/make_volta_reference_outputs.py

Two things are bridged at run time, without editing VOLTA's files: its ``volta.utils``
(which imports boto3 and requests for downloads) is replaced by the two methods the model
classes use, and ``Tensor.cuda`` (VisualBERT's embeddings call it) is made a no-op on CPU.
Rows are run one at a time: VOLTA's VL-BERT shifts padding positions with an in-place write
into a broadcast tensor, which couples the rows of a batch.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tests.volta_golden import KEEP, golden_config, golden_inputs, seeded_state
from vlexplore.models.volta import ARCHS, VoltaForPretraining


class _PreTrainedModel(nn.Module):
    def __init__(self, config, *inputs, **kwargs):
        super().__init__()
        self.config = config

    def _tie_or_clone_weights(self, first_module, second_module):
        first_module.weight = second_module.weight


def main() -> None:
    sys.path.insert(0, os.environ["VOLTA_SRC"])
    sys.modules["volta.utils"] = types.SimpleNamespace(PreTrainedModel=_PreTrainedModel)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    from volta.config import BertConfig
    from volta.encoders import BertForVLPreTraining

    inputs = golden_inputs()
    out = {}
    for arch in ARCHS:
        config = golden_config(arch)
        values = {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()
        }
        reference_config = BertConfig.from_dict(values)
        reference_config.model = "bert"
        reference = BertForVLPreTraining(reference_config).eval()
        reference.load_state_dict(seeded_state(VoltaForPretraining(config)), strict=True)
        text, region, itm = [], [], []
        for row in range(2):
            sel = [t[row : row + 1].clone() for t in inputs]
            with torch.no_grad():
                t, v, pooled_t, pooled_v, _ = reference.bert(*sel)
                scores_t, scores_v, scores_itm, _ = reference.cls(t, v, pooled_t, pooled_v)
            text.append(scores_t[0, :, :KEEP])
            region.append(scores_v["0"][0, :, :KEEP])
            itm.append(scores_itm[0])
        out[f"{arch}/text"] = torch.stack(text).numpy()
        out[f"{arch}/region"] = torch.stack(region).numpy()
        out[f"{arch}/itm"] = torch.stack(itm).numpy()
    np.savez_compressed(Path(__file__).parent / "volta_reference_outputs.npz", **out)


if __name__ == "__main__":
    main()
