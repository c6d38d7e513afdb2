"""Models side by side: one phrase's six scores and per-token losses under several models, and
several models' whole-set runs as one frame for the paper's main figure.

May import: engine, diagnostics, runs, protocol, records, models.base (never views, app or cli).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import torch

from .diagnostics import results_frame
from .engine import Diagnosis, PhraseResult, diagnose
from .models.base import VLModel
from .protocol import LANG4VIS, PAPER, VIS4LANG, AblationSettings
from .records import Example
from .runs import RUN_COLUMNS, run_frame

__all__ = ["memory_bytes", "compare_models", "scores_frame", "runs_frame"]


def memory_bytes(model: VLModel) -> int:
    """Bytes of the model's weights and buffers (each tensor storage counted once)."""
    storages: dict[int, int] = {}
    for value in vars(model).values():
        if isinstance(value, torch.nn.Module):
            for tensor in [*value.parameters(), *value.buffers()]:
                storage = tensor.untyped_storage()
                storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


def scores_frame(diagnoses: Mapping[str, Diagnosis]) -> pd.DataFrame:
    """Tidy: one row per (model, side, condition) with the phrase's bits (NaN: side not measured)."""
    rows = []
    for name, diagnosis in diagnoses.items():
        for side, conditions in (("vis4lang", VIS4LANG), ("lang4vis", LANG4VIS)):
            for condition in conditions:
                rows.append({"model": name, "side": side, "metric": "MLM" if side == "vis4lang" else "MRC-KL",
                             "condition": condition, "bits": diagnosis.scores[side][condition]})  # fmt: skip
    return pd.DataFrame(rows)


def compare_models(
    models: Mapping[str, VLModel],
    example: Example,
    phrase_index: int,
    settings: AblationSettings | None = None,
    average_feature: np.ndarray | None = None,
) -> tuple[dict[str, Diagnosis], dict[str, str]]:
    """``diagnose`` of one phrase under each model; a model that cannot take this example is
    returned in the second dict with the reason instead of stopping the others."""
    done, failed = {}, {}
    for name, model in models.items():
        try:
            done[name] = diagnose(model, example, phrase_index, settings or PAPER, average_feature=average_feature)
        except (ValueError, RuntimeError) as error:
            failed[name] = str(error)
    return done, failed


def runs_frame(runs: Mapping[str, Iterable[PhraseResult]], dataset: str = "", threshold: float = 0.5) -> pd.DataFrame:
    """Several models' whole-set runs (model spec -> its per-phrase results) as one tidy frame,
    ``runs.RUN_COLUMNS``: each model's mean bits per subset, side and condition, the numbers
    ``diagnostics.summarize`` reports, ready for ``paper_figures.main_figure``. A run is named
    "MODEL · DATASET" (the model alone without ``dataset``); ``model`` is the published
    architecture it runs, when it runs one, so that its bars stand beside the paper's."""
    frames = [run_frame(results_frame(results), f"{name} · {dataset}" if dataset else name, name, threshold)
              for name, results in runs.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RUN_COLUMNS)
