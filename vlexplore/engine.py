"""Run the diagnostic: six ablated inputs per phrase, one forward pass, tidy frames out.

``diagnose`` answers one (example, phrase) for the app; ``diagnose_dataset`` streams
per-phrase records over a dataset for the CLI, packing several phrases into each forward.
The engine only orchestrates: what the rows hold, which baseline stands in and which
sides apply are decided in ``vlexplore.protocol``.
The phrase's ablated rows are built and packed in ``vlexplore.inputs``.
May import: errors, records, text, batching, distributed, inputs, protocol, models.base,
models.common (never views, app or cli).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice

import numpy as np
import pandas as pd
import torch

from . import distributed, protocol
from .batching import WINDOW_BATCHES, in_length_buckets, mapped_ahead, windows
from .errors import InputError, check_finite
from .inputs import Prepared, collate, pad_rows, padded_length, prepare
from .models.base import VLModel
from .models.common import PRECISIONS, precision_context, resolve_device
from .protocol import LANG4VIS, PAPER, VIS4LANG, AblationSettings, Alignment, Baseline, Condition
from .protocol.scoring import mlm_scores, mrc_kl_bits
from .records import Example, ExampleSet, Phrase
from .text import CaptionTruncatedWarning, caption_length

__all__ = [
    "Diagnosis", "PhraseResult", "diagnose", "diagnose_dataset", "run_prepared",
    "dataset_units", "published_shift_from", "PUBLISHED_BATCH_SIZE", "VLBERT_POSITIONS",
]


@dataclass
class PhraseResult:
    """One row of a dataset run: the six scores of one phrase and what they rest on.

    ``baseline`` is the replacement actually used (``Baseline.source``); ``departures``
    lists how the run differs from the paper's protocol (empty: it is the paper's).
    """

    example_id: str
    image_id: str
    phrase_index: int
    phrase: str
    phrase_type: str
    label: str
    n_tokens: int
    n_aligned: int
    target_region: int
    baseline: str
    departures: tuple[str, ...]
    mlm_bits_none: float
    mlm_bits_object: float
    mlm_bits_all: float
    mrc_kl_bits_none: float = math.nan
    mrc_kl_bits_phrase: float = math.nan
    mrc_kl_bits_all: float = math.nan
    detector_top_classes: tuple[str, ...] = ()  # detector's top-5 at the target region
    truncated: bool = False
    lang4vis_note: str = ""  # why the MRC-KL columns are empty (n/a), when they are
    readout: str = "mlm"  # "mlm" (masked phrase) or "causal" (left context, teacher forcing)

    @property
    def is_paper(self) -> bool:
        return not self.departures

    def as_dict(self) -> dict:
        row = asdict(self)
        row["detector_top_classes"] = "|".join(self.detector_top_classes)
        row["departures"] = "; ".join(self.departures)
        row["is_paper"] = self.is_paper
        return row


@dataclass
class Diagnosis:
    """Everything the app shows for one phrase; frames are tidy (one row per value).

    ``baseline.source`` says what replaced the ablated regions; ``is_paper`` is true only
    when settings and baseline are both the paper's, and ``protocol_label`` says so in words.
    """

    example: Example
    phrase_index: int
    settings: AblationSettings
    alignment: Alignment
    unit_boxes: np.ndarray
    ablated: dict[Condition, np.ndarray]
    tokens: pd.DataFrame
    topk: pd.DataFrame
    regions: pd.DataFrame
    scores: dict[str, dict[str, float]]
    result: PhraseResult
    baseline: Baseline
    lang4vis_note: str | None = None
    warnings: list[str] = field(default_factory=list)
    # the model's class distribution per lang4vis condition, (K, C) at region_positions
    region_probs: dict[str, np.ndarray] = field(default_factory=dict)
    region_positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def phrase(self) -> Phrase:
        return self.example.phrases[self.phrase_index]

    @property
    def departures(self) -> tuple[str, ...]:
        return self.result.departures

    @property
    def is_paper(self) -> bool:
        return self.result.is_paper

    @property
    def protocol_label(self) -> str:
        return protocol.protocol_label(self.departures)


@torch.inference_mode()
def run_prepared(model: VLModel, items: Sequence[Prepared], top_k: int = 5, precision: str = "fp32") -> list[dict]:
    """One forward for all rows of ``items`` at ``precision``; returns raw per-phrase score arrays."""
    batch = collate(items, pad_id=model.tokenizer.pad_token_id or 0)
    with precision_context(precision, model.device):
        output = model.forward(batch)
    gold_ids = [np.take(item.encoded.input_ids, item.encoded.phrase_positions) for item in items for _ in item.rows]
    gold = torch.from_numpy(pad_rows(gold_ids, batch.text_positions.shape[1], 0).astype(np.int64))  # (B, M)
    token_scores = mlm_scores(output.text_logits, gold, k=top_k)  # on the model's device
    raw, row = [], 0
    for item in items:
        rows = slice(row, row + len(item.rows))
        row += len(item.rows)
        m = len(item.encoded.phrase_positions)
        entry = {
            "mlm_bits": token_scores.mlm_bits[rows, :m],
            "gold_prob": token_scores.gold_prob[rows, :m],
            "gold_rank": token_scores.gold_rank[rows, :m],
            "top_ids": token_scores.top_ids[rows, :m],
            "top_probs": token_scores.top_probs[rows, :m],
            "gold_ids": gold[rows][0, :m].numpy(),
        }
        k = len(item.region_positions)
        if k and output.region_logits is not None:
            logits = output.region_logits[rows, :k].float().cpu()
            entry["mrc_kl_bits"] = mrc_kl_bits(item.detector_targets[None, :, :], logits)
            entry["region_probs"] = torch.softmax(logits, dim=-1).numpy()
        _require_finite_scores(model, item, entry)
        raw.append(entry)
    return raw


def _require_finite_scores(model: VLModel, item: Prepared, entry: dict) -> None:
    """Stop on NaN/Inf from the model: every score of the run would be garbage, not a skip."""
    for score, tensor in (("mlm_bits", "text_logits (the MLM head)"), ("mrc_kl_bits", "region_logits (the region head)")):
        values = entry.get(score)
        if values is None or np.isfinite(values).all():
            continue
        row = int(np.flatnonzero(~np.isfinite(values).reshape(len(values), -1).all(axis=1))[0])
        side, condition = item.rows[row].condition
        raise InputError(
            f"{model.name} returned NaN or infinite {tensor} for phrase {item.phrase.text!r} of "
            f"example {item.example.example_id} ({side} {condition}); its weights or inputs are "
            "broken, so no score would mean anything: check the checkpoint and the features"
        )


def _result(item: Prepared, raw: dict) -> PhraseResult:
    phrase = item.phrase
    by_condition = {c: i for i, c in enumerate(item.conditions)}
    mlm = {c: float(raw["mlm_bits"][by_condition[("vis4lang", c)]].mean()) for c in VIS4LANG}
    mrc = {c: math.nan for c in LANG4VIS}
    top_classes: tuple[str, ...] = ()
    target = item.alignment.target
    if "mrc_kl_bits" in raw and target is not None:
        column = int(np.flatnonzero(item.region_positions == target)[0])
        mrc = {c: float(raw["mrc_kl_bits"][by_condition[("lang4vis", c)], column]) for c in LANG4VIS}
        regions = item.example.regions
        if regions.cls_prob is not None and regions.class_names is not None:
            order = np.argsort(-regions.cls_prob[target], kind="stable")[:5]
            top_classes = tuple(regions.class_names[i] for i in order)
    return PhraseResult(
        example_id=item.example.example_id,
        image_id=item.example.image_id,
        phrase_index=item.phrase_index,
        phrase=phrase.text,
        phrase_type=phrase.phrase_type,
        label=phrase.label,
        n_tokens=len(item.encoded.phrase_positions),
        n_aligned=len(item.alignment.aligned),
        target_region=-1 if target is None else int(target),
        baseline=item.baseline.source,
        departures=protocol.paper_departures(item.settings, item.baseline.source, item.readout),
        mlm_bits_none=mlm["none"],
        mlm_bits_object=mlm["object"],
        mlm_bits_all=mlm["all"],
        mrc_kl_bits_none=mrc["none"],
        mrc_kl_bits_phrase=mrc["phrase"],
        mrc_kl_bits_all=mrc["all"],
        detector_top_classes=top_classes,
        truncated=item.encoded.truncated,
        lang4vis_note=item.sides.lang4vis_note or "",
        readout=item.readout,
    )


def _frames(model: VLModel, item: Prepared, raw: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    tokenizer = model.tokenizer
    phrase = item.phrase
    base = {"example_id": item.example.example_id, "phrase_index": item.phrase_index, "phrase": phrase.text}
    token_rows, topk_rows = [], []
    for r, (side, condition) in enumerate(item.conditions):
        if side != "vis4lang":
            continue
        for j, position in enumerate(item.encoded.phrase_positions):
            gold_token = item.encoded.tokens[position]
            top_tokens = tokenizer.convert_ids_to_tokens(raw["top_ids"][r, j].tolist())
            token_rows.append(
                {**base, "position": position, "token_index": j, "token": gold_token,
                 "gold_id": int(raw["gold_ids"][j]), "condition": condition,
                 "mlm_bits": float(raw["mlm_bits"][r, j]), "gold_prob": float(raw["gold_prob"][r, j]),
                 "gold_rank": int(raw["gold_rank"][r, j]), "top_token": top_tokens[0]}
            )
            for rank, (tok, prob) in enumerate(zip(top_tokens, raw["top_probs"][r, j].tolist(), strict=True)):
                topk_rows.append(
                    {**base, "position": position, "token": gold_token, "condition": condition,
                     "rank": rank, "predicted": tok, "prob": float(prob), "is_gold": tok == gold_token}
                )
    region_rows = []
    if "mrc_kl_bits" in raw:
        regions = item.example.regions
        names = model.region_class_names
        aligned = set(item.alignment.aligned.tolist())
        for r, (side, condition) in enumerate(item.conditions):
            if side != "lang4vis":
                continue
            for column, region in enumerate(item.region_positions.tolist()):
                probs = raw["region_probs"][r, column]
                target_probs = item.detector_targets[column]
                model_top = int(np.argmax(probs))
                detector_top = int(np.argmax(target_probs))
                x1, y1, x2, y2 = regions.boxes[region].tolist()
                region_rows.append(
                    {**base, "region": region, "condition": condition,
                     "mrc_kl_bits": float(raw["mrc_kl_bits"][r, column]),
                     "aligned": region in aligned, "target": region == item.alignment.target,
                     "overlap": float(item.alignment.overlap[region]),
                     "model_top_class": names[model_top], "model_top_prob": float(probs[model_top]),
                     "detector_top_class": names[detector_top],
                     "detector_top_prob": float(target_probs[detector_top]),
                     "x1": x1, "y1": y1, "x2": x2, "y2": y2}
                )
    return pd.DataFrame(token_rows), pd.DataFrame(topk_rows), pd.DataFrame(region_rows)


def _scores(result: PhraseResult) -> dict[str, dict[str, float]]:
    return {
        "vis4lang": {c: getattr(result, f"mlm_bits_{c}") for c in VIS4LANG},
        "lang4vis": {c: getattr(result, f"mrc_kl_bits_{c}") for c in LANG4VIS},
    }


def _place(model: VLModel, device: str | torch.device | None, precision: str) -> None:
    """Check ``precision`` and move ``model`` to ``device`` before any work starts."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if device is not None and resolve_device(device, model.name) != model.device:
        model.to(device)


def diagnose(
    model: VLModel,
    example: Example,
    phrase_index: int,
    settings: AblationSettings | None = None,
    average_feature: np.ndarray | None = None,
    all_regions: bool = False,
    top_k: int = 5,
    device: str | torch.device | None = None,
    precision: str = "fp32",
) -> Diagnosis:
    """All six conditions of one phrase in one forward pass.

    ``average_feature`` is the dataset-average region feature (the paper's baseline); when
    it is not given, the mean of this image's regions stands in, and the result records
    "image mean" and is not labelled paper. For a generative VLM with ``baseline="dataset-mean"`` it is
    the set's mean image token (``model.dataset_token_mean(examples)``); without it the
    picture's own mean token stands in and the result records "image token mean". ``all_regions`` scores MRC at every region
    rather than the target alone (for the app's per-region views). ``device`` moves the
    model there first ("auto": CUDA when present; None: where it is); ``precision`` is one
    of fp32 (default, exact), tf32, bf16, fp16.
    """
    settings = settings or PAPER
    _place(model, device, precision)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CaptionTruncatedWarning)
        item = prepare(model, example, phrase_index, settings, average_feature, all_regions)
    raw = run_prepared(model, [item], top_k=top_k, precision=precision)[0]
    result = _result(item, raw)
    tokens, topk, regions = _frames(model, item, raw)
    ablated = {row.condition: row.visual.ablated for row in item.rows}
    region_probs = {
        condition: raw["region_probs"][r]
        for r, (side, condition) in enumerate(item.conditions)
        if side == "lang4vis" and "region_probs" in raw
    }
    return Diagnosis(
        example=example,
        phrase_index=phrase_index,
        settings=settings,
        alignment=item.alignment,
        unit_boxes=item.unit_boxes,
        ablated=ablated,
        tokens=tokens,
        topk=topk,
        regions=regions,
        scores=_scores(result),
        result=result,
        baseline=item.baseline,
        lang4vis_note=item.sides.lang4vis_note,
        warnings=[str(w.message) for w in caught],
        region_probs=region_probs,
        region_positions=item.region_positions,
    )


def dataset_units(
    model: VLModel, examples: ExampleSet | Iterable[Example], settings: AblationSettings,
    average_feature: np.ndarray | None = None, progress: bool = False,
) -> tuple[list[tuple[Example, int]], np.ndarray | None]:
    """Every (example, phrase index) to diagnose, in dataset order, and the baseline to use.

    An ``ExampleSet`` supplies the dataset-average region feature when none is given; with
    ``baseline="dataset-mean"`` a VLM's mean image token is taken over the examples.
    """
    example_list = examples.examples if isinstance(examples, ExampleSet) else list(examples)
    average_feature = _set_vector(
        model, examples if isinstance(examples, ExampleSet) else example_list, settings, average_feature, progress
    )
    return [(ex, j) for ex in example_list for j in ex.diagnosable_phrases()], average_feature


def wants_token_mean(model: VLModel, settings: AblationSettings) -> bool:
    return model.input_kind == "pixels" and settings.baseline == "dataset-mean"


def set_average(
    model: VLModel, examples: ExampleSet | Sequence[Example], settings: AblationSettings, progress: bool = False
) -> np.ndarray | None:
    """The set-level replacement ``settings`` asks of ``model``, or None (each image's own).

    Region models: the dataset-average region feature (an ``ExampleSet`` gives it; baseline
    "average" or "dataset-mean"). Generative VLMs with baseline "dataset-mean": the mean
    projected image token over the examples' pictures (``model.dataset_token_mean``).
    """
    if model.input_kind == "regions":
        wants = settings.baseline != "zero" and hasattr(examples, "average_region_feature")
        return examples.average_region_feature() if wants else None
    if wants_token_mean(model, settings):
        return model.dataset_token_mean(examples, progress=progress)
    return None


def _set_vector(
    model: VLModel, examples, settings: AblationSettings, given: np.ndarray | None, progress: bool
) -> np.ndarray | None:
    """``given``, else ``set_average``; checked here, as inside prepare() a bad one would only skip phrases."""
    vector = set_average(model, examples, settings, progress) if given is None else given
    if vector is not None:
        check_finite(vector, "average_feature (the Vision-for-Language baseline)")
    return vector


def progress_bar(total: int, what: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=what, unit="phrase")


#: the authors' ablation scripts ran 16 phrases per batch, in dataset order (TASK18's batch_size)
PUBLISHED_BATCH_SIZE = 16
VLBERT_POSITIONS = ("per-caption", "volta-batch16")


def published_shift_from(model: VLModel, units: Sequence[tuple[Example, int]]) -> list[int]:
    """Per unit, the shortest caption length of its batch of 16 in dataset order.

    That is where VOLTA's VL-BERT starts shifting the text positions of every row of the
    batch (``VLBertEmbeddings``); the same in all six conditions, whose captions have
    equal lengths. ``units`` must be the whole evaluated set in its order.
    """
    lengths: dict[int, int] = {}
    for example, _ in units:
        if id(example) not in lengths:
            lengths[id(example)] = caption_length(model.tokenizer, example.caption, model.max_text_length)
    out = []
    for start in range(0, len(units), PUBLISHED_BATCH_SIZE):
        group = units[start : start + PUBLISHED_BATCH_SIZE]
        shortest = min(lengths[id(example)] for example, _ in group)
        out.extend([shortest] * len(group))
    return out


def _check_positions(model: VLModel, vlbert_positions: str) -> None:
    if vlbert_positions not in VLBERT_POSITIONS:
        raise InputError(f"vlbert_positions must be one of {', '.join(VLBERT_POSITIONS)}; got {vlbert_positions!r}")
    if vlbert_positions not in model.text_position_rules:
        raise InputError(
            f"vlbert_positions {vlbert_positions!r} applies to VOLTA's VL-BERT (volta:vl-bert) only; "
            f"{model.name}'s text positions do not depend on the batch"
        )


def diagnose_dataset(
    model: VLModel,
    examples: ExampleSet | Iterable[Example],
    settings: AblationSettings | None = None,
    limit: int | None = None,
    batch_size: int = 8,
    progress: bool | Callable[[int], None] = True,
    average_feature: np.ndarray | None = None,
    skipped: list[str] | None = None,
    length_buckets: bool = True,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    vlbert_positions: str = "per-caption",
    prefetch: bool | None = None,
) -> Iterator[PhraseResult]:
    """Stream one ``PhraseResult`` per diagnosable phrase, ``batch_size`` phrases per forward.

    Phrases that cannot be scored (beyond the token limit, say) are skipped with their
    reason appended to ``skipped`` (and a warning), never dropped silently. An
    ``ExampleSet`` (or any iterable with ``average_region_feature()``) supplies the
    dataset-average baseline; a plain list of examples without ``average_feature`` falls
    back to each image's mean, and every result records which. For a generative VLM with
    ``baseline="dataset-mean"`` the mean image token of the examples' pictures is computed
    first (a tqdm bar with ``progress=True``; cached by the model), unless given as
    ``average_feature``.
    ``length_buckets`` batches phrases of similar length together (less padding); results
    still come in dataset order. Examples are read as they are needed, so a generator of
    examples runs in memory that does not grow with the dataset. ``device`` and
    ``precision`` as in ``diagnose``. ``vlbert_positions="volta-batch16"`` (VL-BERT only)
    reads each caption at the text positions VOLTA gave it in the authors' batches of 16
    (docs/vlbert-positions.md), whatever ``batch_size`` and ``limit`` are. ``progress``: a tqdm bar, or a function called with
    the number of phrases each finished batch adds. ``prefetch`` prepares the next window of
    phrases on a second thread while the model runs this one (default: on when the model is
    on an accelerator, where the host's per-phrase work would otherwise leave the GPU idle;
    results are the same either way).
    Under ``torchrun`` (``vlexplore.distributed.init_from_environment``), the phrases are
    shared out among the processes and rank 0 yields every result, in dataset order; the
    other ranks yield nothing.
    """
    settings = settings or PAPER
    _check_positions(model, vlbert_positions)
    _place(model, device, precision)
    total = None
    if average_feature is None and wants_token_mean(model, settings) and not isinstance(examples, Sequence | ExampleSet):
        examples = list(examples)  # the set's mean image token needs a pass over it first
    average_feature = _set_vector(model, examples, settings, average_feature,
                                  progress=progress is True and distributed.rank() == 0)
    if isinstance(examples, ExampleSet):
        examples = examples.examples
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1 phrase, got {limit}")
    if isinstance(examples, Sequence):
        total = sum(len(ex.diagnosable_phrases()) for ex in examples)
        total = total if limit is None else min(total, limit)
    units = ((ex, j) for ex in examples for j in ex.diagnosable_phrases())
    shifts: dict[tuple[int, int], int] | None = None
    if vlbert_positions == "volta-batch16":  # the whole set's batches of 16, formed before --limit
        every_unit = list(units)
        shifts = {(id(ex), j): shift for (ex, j), shift in zip(every_unit, published_shift_from(model, every_unit), strict=True)}
        units = iter(every_unit)
    units = islice(units, limit)
    bar, advance = None, progress if callable(progress) else None
    if progress is True and distributed.rank() == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=f"diagnosing with {model.name}", unit="phrase")
        advance = bar.update
    skipped = skipped if skipped is not None else []

    def run(items: list[Prepared]) -> list[PhraseResult]:
        raw = run_prepared(model, items, precision=precision)
        results = [_result(item, entry) for item, entry in zip(items, raw, strict=True)]
        if advance is not None:
            advance(len(items))
        return results

    def prepare_window(window: list[tuple[Example, int]]) -> list[Prepared | str]:
        """Each phrase's inputs, or why it cannot be scored (a str), in window order."""
        entries: list[Prepared | str] = []
        for example, j in window:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CaptionTruncatedWarning)
                    entries.append(prepare(model, example, j, settings, average_feature))
                    if shifts is not None:
                        entries[-1].text_shift_from = shifts[(id(example), j)]
            except ValueError as error:
                entries.append(f"{example.example_id} phrase {j}: {error}")
        return entries

    def run_window(entries: list[Prepared | str]) -> list[PhraseResult | str]:
        """Each phrase's result, or why it was skipped (a str), in window order."""
        ready = [entry for entry in entries if isinstance(entry, Prepared)]
        results = iter(in_length_buckets(ready, run, batch_size, key=padded_length if length_buckets else None))
        return [next(results) if isinstance(entry, Prepared) else entry for entry in entries]

    stream = windows(units, batch_size * WINDOW_BATCHES)
    if distributed.is_sharded():
        entries = distributed.map_windows(stream, lambda window: run_window(prepare_window(window)), on_remote=advance)
    elif prefetch if prefetch is not None else model.device.type != "cpu":
        entries = (entry for prepared in mapped_ahead(prepare_window, stream) for entry in run_window(prepared))
    else:
        entries = (entry for window in stream for entry in run_window(prepare_window(window)))
    for entry in entries:
        if isinstance(entry, str):
            skipped.append(entry)
            warnings.warn(f"skipped {entry}", stacklevel=2)
            if advance is not None:
                advance(1)
        else:
            yield entry
    if bar is not None:
        bar.close()
