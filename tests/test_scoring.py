import math

import numpy as np
import pytest
import torch

from vlexplore.protocol.scoring import mlm_bits, mlm_scores, mrc_kl_bits, nats_to_bits, top_k


def test_bits_are_nats_over_ln2():
    assert nats_to_bits(math.log(2)) == pytest.approx(1.0)
    logits = torch.randn(3, 50)
    gold = torch.tensor([1, 7, 49])
    nats = torch.nn.functional.cross_entropy(logits, gold, reduction="none").numpy()
    assert mlm_bits(logits, gold) == pytest.approx(nats / math.log(2), rel=1e-5)


def test_uniform_prediction_costs_log2_vocab_bits():
    assert mlm_bits(torch.zeros(1, 1024), torch.tensor([3]))[0] == pytest.approx(10.0)


def test_rank_and_top_k():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]])
    scores = mlm_scores(logits, torch.tensor([2]), k=2)
    assert scores.gold_rank.tolist() == [2]
    assert scores.top_ids.tolist() == [[1, 3]]
    assert scores.gold_prob[0] == pytest.approx(torch.softmax(logits, -1)[0, 2].item())


def test_kl_of_equal_distributions_is_zero():
    p = np.array([0.5, 0.25, 0.25, 0.0])
    logits = np.log(np.array([0.5, 0.25, 0.25, 1e-30]))
    assert mrc_kl_bits(p, logits) == pytest.approx(0.0, abs=1e-9)


def test_kl_by_hand():
    p = np.array([1.0, 0.0])
    q_logits = np.log(np.array([0.5, 0.5]))
    assert mrc_kl_bits(p, q_logits) == pytest.approx(1.0)  # log2(1/0.5)
    with pytest.raises(ValueError, match="3 classes"):
        mrc_kl_bits(np.ones(3) / 3, np.zeros(4))


def test_top_k_numpy():
    idx, val = top_k(np.array([0.1, 0.6, 0.3]), 2)
    assert idx.tolist() == [1, 2] and val.tolist() == [0.6, 0.3]
