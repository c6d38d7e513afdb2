"""Seeds: a folder of checkpoints of one architecture, run as one family.

The paper released several pretraining seeds of each VOLTA model, and its seed figure shows
how far the diagnostic moves between them. Here a folder (checkpoint files in it, or one per
sub-folder as VOLTA's ``ctrl_uniter_s73/pytorch_model_9.bin``) runs one diagnostic per file;
every row carries its ``seed``, so the spread can be set beside the published one.
May import: registry, engine, diagnostics, runs, protocol, records (never views, app or cli).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from . import registry
from .diagnostics import results_frame
from .engine import diagnose_dataset
from .errors import InputError
from .protocol import LANG4VIS, PAPER, VIS4LANG, AblationSettings
from .records import Example, ExampleSet
from .runs import run_frame

__all__ = [
    "CHECKPOINT_SUFFIXES", "checkpoint_family", "seed_label", "run_family", "family_runs", "family_summary",
    "family_spread",
]

CHECKPOINT_SUFFIXES = (".bin", ".pt", ".pth", ".safetensors")


def seed_label(name: str) -> str:
    """``ctrl_uniter_s73`` -> ``s73``; a name without a trailing ``sN`` is kept whole."""
    found = re.search(r"(?:^|[_\-.])(s\d+)$", name)
    return found.group(1) if found else name


def _checkpoints_in(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix in CHECKPOINT_SUFFIXES)


def checkpoint_family(folder: str | Path) -> list[tuple[str, Path]]:
    """(seed, file) for each checkpoint in ``folder``: its files, else one file per sub-folder.

    A sub-folder's seed is its name (``ctrl_uniter_s73`` -> ``s73``), a file's its stem.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of checkpoints")
    files = _checkpoints_in(folder)
    if files:
        family = [(seed_label(f.stem), f) for f in files]
    else:
        family = []
        for sub in sorted(d for d in folder.iterdir() if d.is_dir()):
            inside = _checkpoints_in(sub)
            if len(inside) > 1:
                raise InputError(
                    f"{sub} holds {len(inside)} checkpoints ({', '.join(f.name for f in inside)}); keep one "
                    "per seed folder (pytorch_model_9.bin is the one the paper used)"
                )
            family += [(seed_label(sub.name), inside[0])] if inside else []
    if not family:
        raise InputError(
            f"{folder} holds no checkpoint ({', '.join('*' + s for s in CHECKPOINT_SUFFIXES)}), neither directly "
            "nor one per sub-folder"
        )
    seeds = [seed for seed, _ in family]
    if len(set(seeds)) != len(seeds):
        family = [(f"{seed} ({path.parent.name}/{path.name})", path) for seed, path in family]
    return family


def run_family(
    model: str,
    folder: str | Path,
    examples: ExampleSet | Iterable[Example],
    settings: AblationSettings | None = None,
    *,
    limit: int | None = None, batch_size: int = 8, progress: bool = True,
    skipped: dict[str, list[str]] | None = None, **model_options,
) -> pd.DataFrame:
    """One diagnostic per checkpoint of ``folder`` with ``model`` (e.g. ``volta:uniter``).

    Returns ``results_frame`` rows with ``seed`` and ``checkpoint`` columns in front; models
    are loaded one at a time. ``skipped`` collects each seed's skipped phrases.
    """
    family = checkpoint_family(folder)
    frames = []
    for seed, path in family:
        network = registry.load_model(model, checkpoint=str(path), **model_options)
        seed_skipped: list[str] = []
        results = list(diagnose_dataset(network, examples, settings or PAPER, limit=limit, batch_size=batch_size,
                                        progress=progress, skipped=seed_skipped))  # fmt: skip
        if skipped is not None:
            skipped[seed] = seed_skipped
        frames.append(results_frame(results).assign(seed=seed, checkpoint=str(path)))
        del network
    frame = pd.concat(frames, ignore_index=True)
    return frame[["seed", "checkpoint", *[c for c in frame.columns if c not in ("seed", "checkpoint")]]]


def family_runs(frame: pd.DataFrame, model: str) -> pd.DataFrame:
    """Each seed as a run (``runs.run_frame``), for the paper's seed figure beside the published seeds."""
    return pd.concat([run_frame(part.drop(columns=["seed", "checkpoint"]), run=f"{model} {seed}", model=model)
                      for seed, part in frame.groupby("seed", sort=False)], ignore_index=True)  # fmt: skip


def family_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Tidy, one row per (seed, side, condition): mean bits (MRC-KL over phrases with a target)."""
    rows = []
    for seed, part in frame.groupby("seed", sort=False):
        for side, metric, conditions in (("vis4lang", "MLM", VIS4LANG), ("lang4vis", "MRC-KL", LANG4VIS)):
            column = "mlm_bits" if side == "vis4lang" else "mrc_kl_bits"
            for condition in conditions:
                values = part[f"{column}_{condition}"].to_numpy(dtype=float)
                values = values[np.isfinite(values)]
                rows.append({"seed": seed, "side": side, "metric": metric, "condition": condition,
                             "bits": float(values.mean()) if values.size else np.nan, "n": int(values.size)})
    return pd.DataFrame(rows)


def family_spread(summary: pd.DataFrame) -> pd.DataFrame:
    """Per (side, condition): mean, standard deviation (n - 1), min and max over seeds."""
    grouped = summary.groupby(["side", "metric", "condition"], sort=False)["bits"]
    spread = grouped.agg(mean="mean", sd="std", min="min", max="max", seeds="count").reset_index()
    return spread
