"""Readouts in bits: MLM loss of the gold sub-tokens, and MRC-KL(P_detector || Q_model).

Everything is computed in natural log and divided by ln 2 at the end, as the authors do.
May import: nothing from vlexplore (numpy and torch only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["LN2", "nats_to_bits", "TokenScores", "mlm_scores", "mlm_bits", "mrc_kl_bits", "top_k"]

LN2 = math.log(2.0)


def nats_to_bits(value):
    return value / LN2


@dataclass
class TokenScores:
    """Per masked sub-token: loss in bits, gold probability and rank (0 = top prediction)."""

    mlm_bits: np.ndarray  # (..., M)
    gold_prob: np.ndarray
    gold_rank: np.ndarray
    top_ids: np.ndarray  # (..., M, k)
    top_probs: np.ndarray


def mlm_scores(text_logits: torch.Tensor, gold_ids: torch.Tensor, k: int = 5) -> TokenScores:
    """Score logits (..., M, V) against gold ids (..., M)."""
    logits = text_logits.detach().float()
    gold_ids = gold_ids.to(logits.device)
    log_probs = torch.log_softmax(logits, dim=-1)
    gold = gold_ids.long().unsqueeze(-1)
    gold_log_prob = log_probs.gather(-1, gold).squeeze(-1)
    gold_logit = logits.gather(-1, gold)
    rank = (logits > gold_logit).sum(dim=-1)
    top_log_probs, top_ids = log_probs.topk(min(k, logits.shape[-1]), dim=-1)
    return TokenScores(  # scored where the logits are (a GPU's (B, M, vocab) never crosses to the host)
        mlm_bits=nats_to_bits(-gold_log_prob).cpu().numpy(),
        gold_prob=gold_log_prob.exp().cpu().numpy(),
        gold_rank=rank.cpu().numpy(),
        top_ids=top_ids.cpu().numpy(),
        top_probs=top_log_probs.exp().cpu().numpy(),
    )


def mlm_bits(text_logits: torch.Tensor, gold_ids: torch.Tensor) -> np.ndarray:
    """-log2 P(gold) for each masked sub-token."""
    return mlm_scores(text_logits, gold_ids, k=1).mlm_bits


def mrc_kl_bits(detector_prob, region_logits) -> np.ndarray:
    """KL(P_detector || softmax(region_logits)) in bits over the last axis.

    Classes the detector gives zero probability contribute nothing (0 log 0 = 0).
    """
    p = torch.as_tensor(np.asarray(detector_prob), dtype=torch.float64)
    log_q = torch.log_softmax(torch.as_tensor(region_logits).detach().double(), dim=-1)
    if p.shape[-1] != log_q.shape[-1]:
        raise ValueError(
            f"detector distribution has {p.shape[-1]} classes but the region head predicts {log_q.shape[-1]}"
        )
    log_p = torch.where(p > 0, p.clamp_min(1e-300).log(), torch.zeros_like(p))
    kl = (p * (log_p - log_q)).sum(dim=-1)
    return nats_to_bits(kl).numpy()


def top_k(probabilities: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the k largest entries on the last axis, largest first."""
    probabilities = np.asarray(probabilities)
    k = min(k, probabilities.shape[-1])
    idx = np.argsort(-probabilities, axis=-1, kind="stable")[..., :k]
    return idx, np.take_along_axis(probabilities, idx, axis=-1)
