"""What the app shows, as a small value that round-trips through a URL query string.

A copied link reopens the same view: model (with a VOLTA checkpoint path, the device and
precision it runs at), dataset (with Flickr30k's features and images paths), example, phrase,
displayed conditions and ablation settings. Decoding never raises: a bad value falls back to its
default and the problem is reported, so a hand-edited link still opens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np

from ..models.common import PRECISIONS
from ..protocol import BASELINES, LANG4VIS, PAPER, VIS4LANG, AblationSettings

__all__ = ["ViewState", "Key", "VIEWS", "DEVICES", "BUILTIN_WORLDS", "CHOICES", "THRESHOLD_MAX", "from_query",
           "to_query", "parse_box", "format_box", "selection_box", "parse_deck", "format_deck"]

VIEWS: tuple[str, ...] = ("example", "dataset", "about")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")  # auto: CUDA when present
BUILTIN_WORLDS: tuple[str, ...] = ("demo", "demo-lang")  # datasets whose regions have gold classes
THRESHOLD_MAX = 0.95  # the largest threshold the sidebar's slider offers; a link above it is clamped


@dataclass(frozen=True)
class ViewState:
    """Everything a shared link must carry. Defaults are the paper's settings."""

    view: str = "example"
    model: str = "demo"
    dataset: str = "demo"
    example: str = ""  # example id in the dataset, or "random:SEED" for a fresh built-in scene
    phrase: int = 0
    vis4lang: str = "object"  # displayed vision-for-language condition
    lang4vis: str = "phrase"  # displayed language-for-vision condition
    threshold: float = PAPER.threshold
    alignment: str = PAPER.alignment
    baseline: str = PAPER.baseline
    caption: str = ""  # an edited caption; "" keeps the example's own
    box: str = ""  # an edited gold box for the phrase, "x1,y1,x2,y2"; "" keeps the gold boxes
    words: str = ""  # other words of the caption to ablate instead of the phrase's own
    checkpoint: str = ""  # a volta:ARCH model's weights (pytorch_model_9.bin)
    features: str = ""  # a flickr30k:PATH dataset's region features (TSV, LMDB or .npz folder)
    images: str = ""  # a flickr30k:PATH dataset's images folder (optional)
    device: str = "auto"  # where the model runs
    precision: str = "fp32"  # numeric precision of its forward passes (fp32: exact)
    region_labels: str = "silver"  # built-in worlds: MRC-KL against the detector (silver) or gold classes
    present: bool = False  # presenter mode: big image and headline, the story in one line
    deck: str = ""  # the presenter's list of examples, "EXAMPLE:PHRASE,..." (see parse_deck)

    def model_options(self) -> dict[str, str]:
        """Keyword options of the model spec (only volta:ARCH takes one: its checkpoint)."""
        return {"checkpoint": self.checkpoint} if self.model.startswith("volta:") and self.checkpoint else {}

    def dataset_options(self) -> dict[str, str]:
        """Keyword options of the dataset spec: flickr30k:PATH takes features and images; the
        built-in worlds take gold region labels (not the paper's setting, so only when asked)."""
        if self.dataset in BUILTIN_WORLDS:
            return {"region_labels": "gold"} if self.region_labels == "gold" else {}
        if not self.dataset.startswith("flickr30k:"):
            return {}
        return {k: v for k, v in (("features", self.features), ("images", self.images)) if v}

    def settings(self) -> AblationSettings:
        return AblationSettings(threshold=self.threshold, alignment=self.alignment, baseline=self.baseline)


class Key:
    """Every session-state key of the app, named once (widget keys are also the keys tests and
    browser selectors find, ``.st-key-NAME``, so the strings are part of the page's interface).

    The fields of ``ViewState`` are keys too: each under its own name, except the two edits
    whose widgets need a working copy (``caption`` -> ``CAPTION_EDIT``, ``box`` -> ``BOX_EDIT``).
    """

    # ViewState fields (widgets of the sidebar and the example view)
    VIEW, MODEL, DATASET, EXAMPLE, PHRASE = "view", "model", "dataset", "example", "phrase"
    VIS4LANG, LANG4VIS = "vis4lang", "lang4vis"
    THRESHOLD, ALIGNMENT, BASELINE = "threshold", "alignment", "baseline"
    CAPTION_EDIT, BOX_EDIT, WORDS = "caption_edit", "box_edit", "words"
    CHECKPOINT, FEATURES, IMAGES = "checkpoint", "features", "images"
    DEVICE, PRECISION = "device", "precision"
    REGION_LABELS = "region_labels"
    PRESENT, DECK = "present", "deck"
    # page bookkeeping (leading underscore: never a widget)
    LAST_STATE = "_state"  # the state the last run ended with
    LINK_PROBLEMS = "link_problems"  # what was wrong with the opening link, shown once
    PICK_PHRASE = "_pick_phrase"  # open on the example's first phrase with a gold box
    APPLIED_SELECTION = "_applied_selection"  # the dragged box already copied to the inputs
    FIGURES = "_figures"  # figures built for the shown results (views/page/figcache.py)
    RESULT_TAB = "result_tab"  # the open tab under the result (only it is drawn)
    UPLOAD_EXAMPLE = "upload_example"  # the example built from an upload (session only)
    # sidebar
    MODEL_CUSTOM, DATASET_CUSTOM = "model_custom", "dataset_custom"
    PATCH_VIEW = "patch_view"  # which view (tile, global) of a multi-view model the image shows
    # picker
    EXAMPLE_PICKER = "example_picker"
    UPLOAD_FILE, UPLOAD_CAPTION = "upload_file", "upload_caption"
    UPLOAD_PHRASE, UPLOAD_BOX = "upload_phrase", "upload_box"
    UPLOAD_REGION, UPLOAD_REGIONS_CHART = "upload_region", "upload_regions_chart"  # pick a detected box
    UPLOAD_REGIONS_FROM = "upload_regions_from"  # which detector made the upload's regions
    DETECTOR, DETECTOR_MODE = "detector", "detector_mode"  # sidebar: the detector for own images
    # example view: editors, charts, exports
    CAPTION_INPUT, REDRAW = "caption_input", "redraw"
    BOX_INPUTS = ("box_x1", "box_y1", "box_x2", "box_y2")
    BOX_FORM = "box_form"  # the four box inputs, applied together
    IMAGE_SELECT, IMAGE_PLAIN = "image_select", "image_plain"
    TOKEN_INDEX, CLASS_REGION = "token_index", "class_region"
    FIG_TOKENS, FIG_TOPK, FIG_REGIONS = "fig_tokens", "fig_topk", "fig_regions"
    FIG_CLASSES, FIG_HEAT = "fig_classes", "fig_heat"
    EXPORT_FIGURE, HTML_EXPORT, PNG_EXPORT = "export_figure", "html_export", "png_export"
    ZIP_EXPORT = "zip_export"
    # presenter mode
    DECK_PREVIOUS, DECK_NEXT, DECK_EDIT = "deck_previous", "deck_next", "deck_edit"
    # dataset view
    SHOW_PAPER, DATASET_CHART = "show_paper", "dataset_chart"
    PAPER_FIGURE = "paper_figure"  # + _NAME: the paper's figures beside this run
    BAR_SIDE, BAR_CONDITION, OPEN_ROW = "bar_side", "bar_condition", "open_row"
    # threshold sweeps (views/page/sweep.py)
    FIG_SWEEP, SWEEP_RUN, SWEEP_CSV = "fig_sweep", "sweep_run", "sweep_csv"
    FIG_PHRASE_SWEEP, FIG_SWEEP_REGIONS = "fig_phrase_sweep", "fig_sweep_regions"
    PHRASE_SWEEP_ON, ATTENTION_ON = "phrase_sweep_on", "attention_on"
    # models side by side (views/page/compare.py)
    COMPARE_MODELS, COMPARE_EXTRA, FIG_MODELS = "compare_models", "compare_extra", "fig_models"
    GROUP_RUN, GROUP_ALL_PAPER, FIG_GROUPED = "group_run", "group_all_paper", "fig_grouped"  # the whole set
    GROUP_CSV, GROUP_FAILED = "group_csv", "_group_failed"  # (a run key -> why it failed, not tried twice)
    # seeds (views/page/seeds.py)
    SEEDS_RUN, SEEDS_CSV, FIG_SEEDS = "seeds_run", "seeds_csv", "fig_seeds"
    # attention beside ablation (views/page/attention.py)
    ATTENTION_LAYER, ATTENTION_CSV = "attention_layer", "attention_csv"
    FIG_ATTENTION, FIG_OBJECT_EFFECT, FIG_ATTENTION_LAYERS = "fig_attention", "fig_object_effect", "fig_attention_layers"

    # widgets a run may skip (the other view; a section waiting for its button): their values outlive it
    KEPT = (COMPARE_MODELS, COMPARE_EXTRA, GROUP_ALL_PAPER)
    # what another phrase resets (its own gold box), and what another example resets (all edits)
    PHRASE_RESETS = (*BOX_INPUTS, REDRAW, APPLIED_SELECTION, TOKEN_INDEX)
    EXAMPLE_RESETS = (CAPTION_INPUT, *BOX_INPUTS, REDRAW, TOKEN_INDEX)

    @staticmethod
    def of_field(name: str) -> str:
        """The session key that holds ``ViewState`` field ``name``."""
        return {"caption": Key.CAPTION_EDIT, "box": Key.BOX_EDIT}.get(name, name)

    @staticmethod
    def open_button(example_id: str) -> str:
        return f"open_{example_id}"

    @staticmethod
    def csv_button(table: str) -> str:
        return f"csv_{table}"


_DEFAULT = ViewState()
#: the fields that hold one of a few options (a radio or segmented control on the page)
CHOICES: dict[str, tuple[str, ...]] = {
    "view": VIEWS,
    "vis4lang": VIS4LANG,
    "lang4vis": LANG4VIS,
    "alignment": ("iot", "iou"),
    "baseline": BASELINES,
    "device": DEVICES,
    "precision": PRECISIONS,
    "region_labels": ("silver", "gold"),
}


def _first(value) -> str:
    if isinstance(value, list | tuple):
        return str(value[0]) if value else ""
    return str(value)


def from_query(params: Mapping) -> tuple[ViewState, list[str]]:
    """Decode ``st.query_params`` (or any mapping) into a state and a list of problems."""
    values: dict = {}
    problems: list[str] = []
    for f in fields(ViewState):
        if f.name not in params:
            continue
        raw = _first(params[f.name]).strip()
        default = getattr(_DEFAULT, f.name)
        if f.name in CHOICES:
            if raw.lower() not in CHOICES[f.name]:
                problems.append(f"link: {f.name}={raw!r} is not one of {', '.join(CHOICES[f.name])}; using {default!r}")
                continue
            values[f.name] = raw.lower()
        elif f.name == "phrase":
            try:
                values[f.name] = int(raw)
                if values[f.name] < 0:
                    raise ValueError
            except ValueError:
                problems.append(f"link: phrase={raw!r} is not a phrase number (0, 1, ...); using 0")
                values.pop(f.name, None)
        elif f.name == "threshold":
            try:
                value = float(raw)
                AblationSettings(threshold=value)
                if not math.isfinite(value):
                    raise ValueError
                if value > THRESHOLD_MAX:
                    problems.append(f"link: threshold={raw} is above the largest the slider offers; "
                                    f"using {THRESHOLD_MAX:g}")
                    value = THRESHOLD_MAX
                values[f.name] = value
            except ValueError:
                problems.append(f"link: threshold={raw!r} must be a number from 0 to {THRESHOLD_MAX:g}; "
                                f"using {default}")
        elif f.name == "present":
            values[f.name] = raw.lower() in ("1", "true", "yes", "on")
        elif f.name == "deck":
            entries, bad = parse_deck(raw)
            values[f.name] = format_deck(entries)
            if bad:
                problems.append(f"link: deck entries {', '.join(map(repr, bad))} are not EXAMPLE:PHRASE; "
                                "left out")
        elif f.name == "box":
            if raw:
                try:
                    parse_box(raw)
                    values[f.name] = raw
                except ValueError as error:
                    problems.append(f"link: {error}; keeping the gold boxes")
        else:
            values[f.name] = raw
    if not values.get("model", "x"):
        values.pop("model")
        problems.append("link: model is empty; using the built-in model")
    if not values.get("dataset", "x"):
        values.pop("dataset")
        problems.append("link: dataset is empty; using the built-in examples")
    return ViewState(**values), problems


def to_query(state: ViewState) -> dict[str, str]:
    """The fields that differ from the defaults (plus model and view), as strings."""
    out = {}
    for key, value in asdict(state).items():
        if key in ("model", "view") or value != getattr(_DEFAULT, key):
            if isinstance(value, bool):
                out[key] = "1" if value else "0"
            else:
                out[key] = f"{value:g}" if isinstance(value, float) else str(value)
    return out


def parse_deck(text: str) -> tuple[list[tuple[str, int]], list[str]]:
    """"ex0:1,ex4:0" -> ([("ex0", 1), ("ex4", 0)], entries that are not EXAMPLE:PHRASE).
    An entry without ":PHRASE" opens on phrase 0."""
    entries, bad = [], []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        example_id, _, phrase = part.rpartition(":") if ":" in part else (part, "", "0")
        if example_id and phrase.isdigit():
            entries.append((example_id, int(phrase)))
        else:
            bad.append(part)
    return entries, bad


def format_deck(entries) -> str:
    return ",".join(f"{example_id}:{phrase}" for example_id, phrase in entries)


def parse_box(text: str) -> np.ndarray:
    """"x1,y1,x2,y2" -> (4,) float array; ValueError naming the problem."""
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"box {text!r} must be four numbers x1,y1,x2,y2") from None
    if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
        raise ValueError(f"box {text!r} must be four finite numbers x1,y1,x2,y2")
    return np.asarray(numbers, dtype=np.float64)


def format_box(box) -> str:
    return ",".join(f"{float(v):g}" for v in np.asarray(box, dtype=float).ravel()[:4])


def selection_box(corners, image_size: tuple[int, int]) -> str | None:
    """A rectangle dragged on the picture ([x1, y1, x2, y2] in image pixels, any two opposite
    corners, as the picture sends it), as "x1,y1,x2,y2" in whole pixels clipped to the image;
    None when there is no rectangle."""
    if not isinstance(corners, list | tuple) or len(corners) != 4:
        return None
    try:
        xs, ys = [float(corners[0]), float(corners[2])], [float(corners[1]), float(corners[3])]
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in xs + ys):
        return None
    width, height = image_size
    x1, x2 = sorted(min(max(v, 0.0), width - 1.0) for v in xs)
    y1, y2 = sorted(min(max(v, 0.0), height - 1.0) for v in ys)
    return format_box([round(x1), round(y1), round(x2), round(y2)])
