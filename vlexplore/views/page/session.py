"""The page's session: cached loaders, the state <-> URL sync, the callbacks that change what
is shown, and the one choice of the ablation baseline.

Caching sits here, at the boundary: the model and example set load once per process, and the
six conditions of a phrase come from one cached ``diagnose`` call, so switching the displayed
condition redraws without running the model. Every cache has a bound.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields, replace

import numpy as np
import streamlit as st

from ...engine import diagnose
from ...protocol import (
    BLANK_PATCH,
    DATASET_TOKEN_MEAN,
    PAPER,
    PAPER_BASELINE,
    AblationSettings,
    Baseline,
    dataset_token_mean,
    resolve_baseline,
)
from .. import examples, overlay, sources
from ..state import CHOICES, Key, ViewState, from_query, to_query
from ..text import literal

UPLOAD_ID = "upload"  # the example id of an uploaded image (session only)
RANDOM_PREFIX = "random:"  # example ids "random:SEED": a fresh scene of the built-in world


# ---------------------------------------------------------------- cached sources
# A source is (spec, options[, device]): options are the spec's paths as sorted (name, value) pairs,
# e.g. ("volta:uniter", (("checkpoint", "/data/pytorch_model_9.bin"),)).
@st.cache_resource(show_spinner="Loading the model …", max_entries=4)
def get_model(source: tuple):
    spec, options, device = source
    model = sources.load_model(spec, **dict(options))
    try:
        return model.to(device)
    except (ValueError, RuntimeError) as error:  # no GPU here, or one without room
        raise ValueError(f"{spec} cannot run on device {device!r}: {error}") from error


@st.cache_resource(show_spinner="Loading the examples …", max_entries=4)
def get_dataset(source: tuple):
    spec, options = source
    return sources.load_dataset(spec, **dict(options))


@st.cache_resource(max_entries=4)
def get_average(dataset_spec: tuple):
    return get_dataset(dataset_spec).average_region_feature()


@st.cache_resource(show_spinner="Computing the mean image token of the examples (one vision pass per picture) …",
                   max_entries=8)
def get_token_mean(model_spec: tuple, dataset_spec: tuple):
    """A generative VLM's mean image token over the examples (baseline "dataset-mean"), once
    per model and set; None for a model without one."""
    return get_model(model_spec).dataset_token_mean(get_dataset(dataset_spec))


@st.cache_resource(show_spinner="Making a new scene …", max_entries=16)
def get_random(seed: int):
    return sources.random_example(seed)


@st.cache_resource(max_entries=64)
def get_thumbnail(dataset_spec: tuple, example_id: str):
    example = get_dataset(dataset_spec).by_id(example_id)
    try:
        return overlay.thumbnail(example)
    except ValueError:  # an unreadable image file: the example view says why
        return overlay.thumbnail(replace(example, image=None, image_path=None))


@st.cache_resource(show_spinner="Loading the detector …", max_entries=2)
def get_detector(folder: str, mode: str):
    return sources.load_detector(folder, mode)


@st.cache_resource(show_spinner=False, max_entries=16)
def get_detections(folder: str, mode: str, digest: str, _image: np.ndarray):
    """The regions of one image, keyed by its content hash: a rerun never detects twice."""
    return get_detector(folder, mode).detect(_image)


@st.cache_resource(show_spinner="Running the model (six conditions, one pass) …", max_entries=64)
def get_diagnosis(key: str, _model, _example, phrase_index: int, settings: AblationSettings,
                  _baseline: Baseline, precision: str = "fp32"):
    """``key`` names model, example content and baseline; settings and precision are hashed.
    The engine is handed the set-level vector only when that is the baseline (else it takes the
    image's mean or zeros itself), so the result records the same source."""
    average = average_given(_baseline)
    return diagnose(_model, _example, phrase_index, settings, average_feature=average, all_regions=True,
                    precision=precision)


class RecentRuns(OrderedDict):
    """Whole-set runs by (model, dataset, settings), the ``limit`` most recently used kept."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def get_recent(self, key):
        if key in self:
            self.move_to_end(key)
        return self.get(key)

    def remember(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


@st.cache_resource
def dataset_runs() -> RecentRuns:
    return RecentRuns(limit=8)


class WholeSetSlot:
    """One whole-set run at a time in this server process, across sessions: each run holds its
    working memory (hundreds of MB on a large set) and all the CPU it can get, so sessions that
    ask at once run one after another (memory stays that of one run) and the others wait, saying so."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting: set[int] = set()  # the script threads waiting for it (set.add is atomic)


@st.cache_resource
def whole_set_slot() -> WholeSetSlot:
    return WholeSetSlot()


WAITING = "Waiting for another whole-set run to finish (one runs at a time on this server)"


@contextlib.contextmanager
def whole_set_turn() -> Iterator[None]:
    """Hold the whole-set slot; while another session has it, show that this one waits. The wait
    polls, so a click elsewhere (Streamlit stops the run at the next element) ends it."""
    slot = whole_set_slot()
    if not slot.lock.acquire(blocking=False):
        note, start, me = st.empty(), time.monotonic(), threading.get_ident()
        slot.waiting.add(me)
        try:
            while True:
                note.info(f"{WAITING}: {time.monotonic() - start:.0f} s …", icon=":material/hourglass_top:")
                if slot.lock.acquire(timeout=1.0):
                    break
        finally:
            slot.waiting.discard(me)
        note.caption(f"Waited {time.monotonic() - start:.0f} s for another whole-set run "
                     "(one runs at a time on this server).")
    try:
        yield
    finally:
        slot.lock.release()


def whole_set_run(key, compute: Callable[[], object]):
    """The whole-set result cached under ``key``; when missing, ``compute()`` in the server's
    whole-set slot (unless another session computed it while this one waited). ``compute``
    returns None after showing why it could not run: nothing is cached then."""
    runs = dataset_runs()
    if runs.get_recent(key) is None:
        with whole_set_turn():
            if runs.get_recent(key) is None:
                result = compute()
                if result is None:
                    return None
                runs.remember(key, result)
    return runs.get_recent(key)


def whole_set_run_in_status(key, compute: Callable[[], object], running: str, done: str, failed: str,
                            why: Callable[[Exception], str] = str):
    """``whole_set_run`` for a computation with no progress of its own: ``compute()`` runs under
    an ``st.status`` labelled ``running``; a ValueError or RuntimeError turns the status into
    ``failed`` and shows ``why(error)`` beneath it (nothing cached)."""

    def in_status():
        with st.status(running) as status:
            try:
                result = compute()
            except (ValueError, RuntimeError) as error:
                status.update(label=failed, state="error")
                st.error(literal(why(error)))
                return None
            status.update(label=done, state="complete")
        return result

    return whole_set_run(key, in_status)


def dataset_average(feature_dim: int | None) -> np.ndarray | None:
    """The examples' average region feature (the paper's baseline), when they give one of
    ``feature_dim`` (any width when None); None when they do not or cannot load."""
    average = None
    with contextlib.suppress(ValueError):  # examples that cannot load: the picker says why
        average = get_average(dataset_source())
    if average is None or (feature_dim is not None and average.shape != (feature_dim,)):
        return None
    return average


def phrase_inputs(example, phrase_index: int) -> tuple[str, AblationSettings, Baseline]:
    """For a cached per-phrase view beside the diagnosis (a sweep, the attention): a key naming
    model, example content, phrase and baseline, the current settings, and the baseline."""
    settings = current_state().settings()
    baseline = ablation_baseline(settings, example.regions.features if example.regions is not None else None)
    key = f"{model_source()}|{examples.fingerprint(example)}|{phrase_index}|{baseline.source}"
    return key, settings, baseline


def average_given(baseline: Baseline) -> np.ndarray | None:
    """What the engine is handed: the set-level vector (the dataset's average region feature or
    a VLM's mean image token) only when that is the baseline (else it takes the image's mean or
    zeros itself, and records the same source)."""
    return baseline.vector if baseline.source in (PAPER_BASELINE, DATASET_TOKEN_MEAN) else None


def token_mean(settings: AblationSettings, model_spec: tuple | None = None) -> np.ndarray | None:
    """The examples' mean image token under a generative VLM when the settings ask for it
    (baseline "dataset-mean"); None otherwise or when the model or examples cannot load."""
    if settings.baseline != "dataset-mean":
        return None
    with contextlib.suppress(ValueError):  # the model or example pickers say why
        return get_token_mean(model_spec or model_source(), dataset_source())
    return None


def set_average(model, settings: AblationSettings) -> np.ndarray | None:
    """The set-level vector a whole-set run is handed: the dataset's average region feature for
    region models, the examples' mean image token for a VLM with baseline "dataset-mean"."""
    if model.input_kind == "pixels":
        return token_mean(settings)
    return dataset_average(model.feature_dim)


def ablation_baseline(settings: AblationSettings, features: np.ndarray | None,
                      model_spec: tuple | None = None) -> Baseline:
    """What replaces the ablated regions of an image with ``features`` (N, D): the one place the
    page decides. The dataset's average when it fits, resolved by the protocol, so the source
    (dataset average, image mean, zero) is the one the result will record. For a pixel model
    (or an example without regions): the examples' mean image token when a VLM is asked for
    it (baseline "dataset-mean"), else ``BLANK_PATCH`` (the model picks its own)."""
    model_spec = model_spec or model_source()
    if features is None or reads_pixels(model_spec):  # a VLM on examples that also carry regions
        vector = token_mean(settings, model_spec)
        return BLANK_PATCH if vector is None else dataset_token_mean(vector)
    return resolve_baseline(features, settings, dataset_average(features.shape[1]))


def reads_pixels(model_spec: tuple) -> bool:
    """Whether the model takes pixels (ViLT, generative VLMs), not regions; False when it cannot load."""
    try:
        return get_model(model_spec).input_kind == "pixels"
    except ValueError:  # the model picker says why
        return False


# ---------------------------------------------------------------- state <-> URL
def sync_state() -> None:
    """Seed session keys from the link on the first run, and afterwards from the last run's
    state for any widget Streamlit dropped because it was not drawn (e.g. after an error)."""
    s = st.session_state
    if Key.LAST_STATE not in s:
        state, problems = from_query(st.query_params.to_dict())
        s[Key.LAST_STATE], s[Key.LINK_PROBLEMS] = state, problems
        s[Key.PICK_PHRASE] = Key.PHRASE not in st.query_params
    last = s[Key.LAST_STATE]
    for name, value in asdict(last).items():
        s.setdefault(Key.of_field(name), value)
    keep_choices()
    if not isinstance(s[Key.PHRASE], int) or s[Key.PHRASE] < 0:
        s[Key.PHRASE] = last.phrase
    for key in Key.KEPT:  # set, not left to the widget: Streamlit drops a widget's value when a run skips it
        if key in s:
            s[key] = s[key]


def keep_choices() -> None:
    """A choice of the link that came back empty or unknown keeps the last run's.

    Run before anything reads them, on every run, a fragment's included: under load a segmented
    control has been seen to send None (the selected segment clicked again mid-rerun, or a
    widget that lost its state while another view ran), and a fragment's rerun does not pass
    through ``sync_state``.
    """
    s, last = st.session_state, st.session_state[Key.LAST_STATE]
    for name, options in CHOICES.items():
        if s.get(name) not in options:
            s[name] = getattr(last, name)


def keep_choice(key: str, options, default) -> None:
    """Before a radio or segmented control that is not part of the link: an empty or stale value
    becomes the last valid one (or ``default``), so the page never reads None."""
    s, memory = st.session_state, f"_kept_{key}"
    if s.get(key) not in options:
        s[key] = s[memory] if s.get(memory) in options else default
    s[memory] = s[key]


def save_state() -> None:
    """Remember this run's state and put it in the address bar (the link reopens this view)."""
    st.session_state[Key.LAST_STATE] = current_state()
    st.query_params.from_dict(to_query(st.session_state[Key.LAST_STATE]))


def current_state() -> ViewState:
    s = st.session_state
    values = {name: s.get(Key.of_field(name), "") for name in (f.name for f in fields(ViewState))}
    for name in ("checkpoint", "features", "images"):
        values[name] = values[name].strip()
    return ViewState(**values | {"phrase": int(values["phrase"]), "threshold": float(values["threshold"]),
                                 "present": bool(values["present"])})


def model_source(spec: str | None = None) -> tuple:
    """The model to load, as ``get_model`` takes it: its spec, for volta:ARCH the checkpoint
    typed in the sidebar, and the device it runs on. Another ``spec`` (a model beside the
    current one) runs on the same device, without the current model's checkpoint."""
    state = current_state()
    if spec is not None and spec != state.model:
        return spec, (), state.device
    return state.model, tuple(sorted(state.model_options().items())), state.device


def dataset_source() -> tuple:
    """The examples to load: the spec and, for flickr30k:PATH, the features and images paths."""
    state = current_state()
    return state.dataset, tuple(sorted(state.dataset_options().items()))


# ---------------------------------------------------------------- callbacks
def open_example(example_id: str, phrase: int | None = None, view: str | None = None) -> None:
    """Show another example, dropping edits made to the previous one.

    Without a phrase number, the example opens on its first phrase that has a gold box.
    """
    s = st.session_state
    s[Key.EXAMPLE], s[Key.PHRASE] = example_id, phrase or 0
    s[Key.PICK_PHRASE] = phrase is None
    s[Key.CAPTION_EDIT], s[Key.BOX_EDIT], s[Key.WORDS] = "", "", ""
    for key in Key.EXAMPLE_RESETS:
        s.pop(key, None)
    if view:
        s[Key.VIEW] = view


def phrase_changed() -> None:
    """Another phrase starts from its own gold box and words."""
    s = st.session_state
    s[Key.BOX_EDIT], s[Key.WORDS] = "", ""
    for key in Key.PHRASE_RESETS:
        s.pop(key, None)


def new_random_scene() -> None:
    seed = int(np.random.default_rng().integers(0, 1_000_000))
    open_example(f"{RANDOM_PREFIX}{seed}")


def use_custom_model() -> None:
    spec = st.session_state[Key.MODEL_CUSTOM].strip()
    if spec:
        st.session_state[Key.MODEL] = spec


def use_custom_dataset() -> None:
    spec = st.session_state[Key.DATASET_CUSTOM].strip()
    if spec:
        st.session_state[Key.DATASET] = spec
        open_example("")


def reset_settings() -> None:
    s = st.session_state
    s[Key.THRESHOLD], s[Key.ALIGNMENT], s[Key.BASELINE] = PAPER.threshold, PAPER.alignment, PAPER.baseline
