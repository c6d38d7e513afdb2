"""NaN or infinity from a model or in the baseline stops the run with the phrase and the
tensor named (before: all-NaN scores, printed as null, exit 0); a limit below 1 is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.tiny import TinyVL, load_tiny_set, make_example
from vlexplore.engine import diagnose, diagnose_dataset
from vlexplore.errors import InputError
from vlexplore.models.base import VLOutput


class Broken(TinyVL):
    """TinyVL whose ``head`` output gets a NaN (or inf) in row ``row``."""

    def __init__(self, head: str, row: int, value: float = float("nan")):
        super().__init__()
        self.head, self.row, self.value = head, row, value

    def forward(self, batch):
        output = super().forward(batch)
        text, regions = output.text_logits.clone(), output.region_logits
        if self.head == "text":
            text[self.row, 0, 7] = self.value
        else:
            regions = regions.clone()
            regions[self.row, 0, 1] = self.value
        return VLOutput(text, regions)


@pytest.mark.parametrize("head, row, value, tensor, condition", [
    ("text", 0, float("nan"), "text_logits", "vis4lang none"),
    ("text", 2, float("inf"), "text_logits", "vis4lang all"),
    ("region", 4, float("nan"), "region_logits", "lang4vis phrase"),
])  # fmt: skip
def test_nonfinite_model_output_names_the_phrase_and_tensor(head, row, value, tensor, condition):
    example = make_example(0)
    model = Broken(head, row, value)
    phrase = example.phrases[example.diagnosable_phrases()[0]]
    with pytest.raises(InputError, match=rf"tiny returned NaN or infinite {tensor} .* for phrase {phrase.text!r} of example {example.example_id} \({condition}\)"):
        diagnose(model, example, example.diagnosable_phrases()[0])


def test_nonfinite_output_stops_a_dataset_run_instead_of_skipping():
    with pytest.raises(InputError, match="returned NaN or infinite text_logits"):
        list(diagnose_dataset(Broken("text", 0), load_tiny_set(), progress=False))


def test_nonfinite_average_feature_is_refused():
    examples = load_tiny_set()
    average = np.ones(8, np.float32)
    average[3] = np.nan
    with pytest.raises(InputError, match=r"average_feature .* contains nan at position \[3\]"):
        list(diagnose_dataset(TinyVL(), examples, progress=False, average_feature=average))
    example = examples[0]
    with pytest.raises(InputError, match="average_feature"):
        diagnose(TinyVL(), example, example.diagnosable_phrases()[0], average_feature=average)


@pytest.mark.parametrize("limit", [0, -1])
def test_limit_below_one_is_refused(limit):
    with pytest.raises(InputError, match=f"limit must be at least 1 phrase, got {limit}"):
        list(diagnose_dataset(TinyVL(), load_tiny_set(), limit=limit, progress=False))


def test_finite_outputs_still_score():
    results = list(diagnose_dataset(TinyVL(), load_tiny_set(), progress=False))
    assert results and all(np.isfinite(r.mlm_bits_none) for r in results)
    assert torch.isfinite(torch.tensor([r.mrc_kl_bits_phrase for r in results])).all()
