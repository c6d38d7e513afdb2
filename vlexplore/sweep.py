"""Vision-for-Language Object at many alignment thresholds, in one pass over the data.

The authors swept the threshold from 0.9 to 0.0 (Object regions: best IoT strictly above
it). Only Object depends on the threshold, and lowering it only ever adds regions, so a
phrase needs its None and All rows once and one Object row per *distinct* aligned set:
an empty set is None again and the full set is All again, so neither needs a forward.
May import: protocol, records, engine (never views, app or cli).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from . import protocol
from .engine import dataset_units, progress_bar, run_prepared
from .errors import InputError
from .inputs import Prepared, prepare
from .models.base import VLModel
from .protocol import PAPER, AblationSettings
from .records import Example, ExampleSet

__all__ = ["parse_thresholds", "sweep_dataset", "sweep_phrase", "sweep_summary", "SWEEP_COLUMNS"]

SWEEP_COLUMNS = [
    "example_id", "image_id", "phrase_index", "phrase", "threshold", "n_regions", "n_aligned",
    "aligned", "mlm_bits_none", "mlm_bits_object", "mlm_bits_all", "baseline",
]  # fmt: skip


def parse_thresholds(text: str) -> tuple[float, ...]:
    """``"0.9:0.0:0.1"`` (start:stop:step, both ends included) or ``"0.9,0.5,0.1"``."""
    try:
        if ":" in text:
            start, stop, step = (float(part) for part in text.split(":"))
            if step <= 0:
                raise ValueError
            count = int(math.floor(abs(start - stop) / step + 1e-9)) + 1
            sign = -1.0 if stop < start else 1.0
            values = [round(start + sign * i * step, 10) for i in range(count)]
        else:
            values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(
            f"threshold sweep {text!r} is not START:STOP:STEP (e.g. 0.9:0.0:0.1, step > 0) or a comma list"
        ) from None
    if not values:
        raise InputError(f"threshold sweep {text!r} names no threshold")
    for value in values:
        AblationSettings(threshold=value)  # the same check, and message, as a single run
    return tuple(dict.fromkeys(values))


def _sweep_item(item: Prepared, thresholds: Sequence[float]) -> tuple[Prepared, list[tuple[float, np.ndarray, int]]]:
    """The phrase's rows for the sweep (None, All, then each distinct non-trivial Object set).

    Returns the item to run and, per threshold, (threshold, aligned regions, row to read).
    """
    features = item.example.regions.features
    n = len(features)
    base = protocol.vis4lang_regions(features, np.zeros(0, dtype=np.int64), item.baseline.vector, item.settings)
    text = item.rows[0].input_ids  # the masked phrase, the same in every vis4lang row
    rows = [protocol.ConditionRow(("vis4lang", c), text, base[c]) for c in ("none", "all")]
    row_of: dict[tuple[int, ...], int] = {(): 0, tuple(range(n)): 1}
    plan = []
    for threshold in thresholds:
        aligned = np.flatnonzero(item.alignment.overlap > threshold)
        key = tuple(aligned.tolist())
        if key not in row_of:
            visual = protocol.vis4lang_regions(features, aligned, item.baseline.vector, item.settings)["object"]
            row_of[key] = len(rows)
            rows.append(protocol.ConditionRow(("vis4lang", f"object>{threshold:g}"), text, visual))
        plan.append((threshold, aligned, row_of[key]))
    swept = dataclasses.replace(
        item, rows=rows, region_positions=np.zeros(0, dtype=np.int64), detector_targets=None
    )
    return swept, plan


def _rows(item: Prepared, plan, raw: dict) -> list[dict]:
    bits = raw["mlm_bits"].mean(axis=1)  # (rows,) mean over the phrase's sub-tokens
    example = item.example
    common = {
        "example_id": example.example_id, "image_id": example.image_id, "phrase_index": item.phrase_index,
        "phrase": item.phrase.text, "n_regions": len(example.regions), "baseline": item.baseline.source,
        "mlm_bits_none": float(bits[0]), "mlm_bits_all": float(bits[1]),
    }  # fmt: skip
    return [
        {**common, "threshold": threshold, "n_aligned": len(aligned), "aligned": "|".join(map(str, aligned.tolist())),
         "mlm_bits_object": float(bits[row])}
        for threshold, aligned, row in plan
    ]  # fmt: skip


def _check(model: VLModel) -> None:
    if model.input_kind != "regions":
        raise InputError(
            f"{model.name} aligns image patches by coverage, not regions by a threshold; "
            "the threshold sweep needs a region model"
        )


def sweep_dataset(
    model: VLModel,
    examples: ExampleSet | Iterable[Example],
    thresholds: Sequence[float],
    settings: AblationSettings | None = None,
    *,
    limit: int | None = None, batch_size: int = 8, progress: bool = True,
    average_feature: np.ndarray | None = None, skipped: list[str] | None = None,
) -> pd.DataFrame:
    """One row per (phrase, threshold): Vision-for-Language None, Object and All in bits.

    ``settings.threshold`` is ignored (the sweep sets it); the other settings apply. Each
    row's Object equals a separate ``diagnose_dataset`` run at that threshold.
    """
    settings = settings or PAPER
    _check(model)
    thresholds = tuple(float(t) for t in thresholds)
    for threshold in thresholds:
        AblationSettings(threshold=threshold)
    units, average_feature = dataset_units(model, examples, settings, average_feature, progress)
    if limit is not None:
        units = units[:limit]
    bar = progress_bar(len(units), f"threshold sweep with {model.name}") if progress else None
    skipped = skipped if skipped is not None else []
    out: list[dict] = []
    pending: list[tuple[Prepared, list]] = []

    def flush():
        raws = run_prepared(model, [item for item, _ in pending])
        for (item, plan), raw in zip(pending, raws, strict=True):
            out.extend(_rows(item, plan, raw))
        if bar is not None:
            bar.update(len(pending))
        pending.clear()

    for example, j in units:
        try:
            pending.append(_sweep_item(prepare(model, example, j, settings, average_feature), thresholds))
        except ValueError as error:
            skipped.append(f"{example.example_id} phrase {j}: {error}")
            if bar is not None:
                bar.update(1)
            continue
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    if bar is not None:
        bar.close()
    return pd.DataFrame(out, columns=SWEEP_COLUMNS)


def sweep_phrase(
    model: VLModel,
    example: Example,
    phrase_index: int,
    thresholds: Sequence[float],
    settings: AblationSettings | None = None,
    average_feature: np.ndarray | None = None,
) -> pd.DataFrame:
    """The sweep of one phrase (one forward): which regions join as the threshold falls."""
    _check(model)
    item, plan = _sweep_item(prepare(model, example, phrase_index, settings or PAPER, average_feature), thresholds)
    return pd.DataFrame(_rows(item, plan, run_prepared(model, [item])[0]), columns=SWEEP_COLUMNS)


def sweep_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per threshold: mean bits (None, Object, All), the share of regions aligned, phrases."""
    if frame.empty:
        return pd.DataFrame(columns=["threshold", "n", "mlm_bits_none", "mlm_bits_object", "mlm_bits_all",
                                     "share_aligned", "share_phrases_with_aligned"])  # fmt: skip
    frame = frame.assign(share=frame["n_aligned"] / frame["n_regions"], any_aligned=frame["n_aligned"] > 0)
    grouped = frame.groupby("threshold", sort=False)
    summary = grouped.agg(
        n=("phrase", "size"),
        mlm_bits_none=("mlm_bits_none", "mean"),
        mlm_bits_object=("mlm_bits_object", "mean"),
        mlm_bits_all=("mlm_bits_all", "mean"),
        share_aligned=("share", "mean"),
        share_phrases_with_aligned=("any_aligned", "mean"),
    )
    return summary.reset_index()
