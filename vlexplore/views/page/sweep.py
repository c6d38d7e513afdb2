"""Threshold sweeps on the page: the whole set's Object as the alignment threshold falls from
0.9 to 0.0, and one phrase's (which regions join at each step). Region models only; the
whole set runs on demand (one pass, cached per model, examples and other settings)."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from ...sweep import parse_thresholds, sweep_dataset, sweep_phrase, sweep_summary
from .. import figures
from ..state import Key
from ..text import literal
from . import session

THRESHOLDS = parse_thresholds("0.9:0.0:0.1")
NOTE = ("Only Object depends on the threshold: None and All are computed once, and each distinct set "
        "of aligned regions takes one row of one forward pass.")


@st.cache_resource(show_spinner="Sweeping the threshold (one pass) …", max_entries=32)
def get_phrase_sweep(key: str, _model, _example, phrase_index: int, settings, _baseline):
    """``key`` names model, example content and baseline, as ``session.get_diagnosis``."""
    average = session.average_given(_baseline)
    return sweep_phrase(_model, _example, phrase_index, THRESHOLDS, settings, average_feature=average)


def phrase_sweep_section(view) -> dict:
    """The chosen phrase's sweep, as a line and on the image; returns the figures for export."""
    if not view.regions_model or view.edited is None or view.edited.regions is None:
        return {}
    with st.expander("Threshold sweep of this phrase: which regions join as the threshold falls"):
        if not st.toggle("Sweep this phrase (one more forward pass)", key=Key.PHRASE_SWEEP_ON):
            return {}
        key, settings, baseline = session.phrase_inputs(view.edited, view.phrase_index)
        settings = replace(settings, threshold=0.5)  # the sweep sets it: moving the slider reuses this
        try:
            rows = get_phrase_sweep(key, view.model, view.edited, view.phrase_index, settings, baseline)
        except (ValueError, RuntimeError) as error:
            st.error(literal(str(error)))
            return {}
        figs = {"threshold sweep": figures.phrase_sweep_figure(rows)}
        left, right = st.columns([3, 2])
        with left:
            st.plotly_chart(figs["threshold sweep"], key=Key.FIG_PHRASE_SWEEP)
        with right:
            figs["sweep regions"] = figures.sweep_regions_figure(view.diagnosis, view.image, rows, height=320)
            st.plotly_chart(figs["sweep regions"], key=Key.FIG_SWEEP_REGIONS)
        st.caption(f"Regions outlined in the colour of the highest threshold at which Object ablates them "
                   f"(dark: already at 0.9). {NOTE}")
    return figs


def dataset_sweep_section() -> None:
    """The whole set's sweep, run when asked (cached like the whole-set run)."""
    s = st.session_state
    with st.expander("Threshold sweep: Object at 0.9 … 0.0 (the paper's threshold figure, for this run)"):
        try:
            model = session.get_model(session.model_source())
            dataset = session.get_dataset(session.dataset_source())
        except ValueError as error:
            st.error(literal(str(error)))
            return
        if model.input_kind != "regions":
            st.info(f"{literal(s[Key.MODEL])} aligns image patches, not regions by a threshold: no sweep.")
            return
        settings = replace(session.current_state().settings(), threshold=0.5)  # the sweep sets it
        key = ("sweep", session.model_source(), session.dataset_source(), settings)
        if session.dataset_runs().get_recent(key) is None:
            st.caption(NOTE)
            if not st.button(f"Sweep {len(dataset.units())} phrases", key=Key.SWEEP_RUN):
                return

        rows = session.whole_set_run_in_status(
            key, lambda: sweep_dataset(model, dataset, THRESHOLDS, settings, progress=False, batch_size=32,
                                       average_feature=session.set_average(model, settings)),
            running=f"Sweeping {len(dataset.units())} phrases at {len(THRESHOLDS)} thresholds …",
            done="Sweep done", failed="The sweep failed",
            why=lambda error: f"{s[Key.MODEL]} could not be swept on {s[Key.DATASET]}: {error}")
        if rows is None:
            return
        summary = sweep_summary(rows)
        st.plotly_chart(figures.sweep_figure(summary, model=f"{s[Key.MODEL]} on {s[Key.DATASET]}"),
                        key=Key.FIG_SWEEP)
        st.dataframe(summary, hide_index=True)
        st.download_button("Sweep per phrase (CSV)", rows.to_csv(index=False).encode(),
                           f"{s[Key.MODEL]}_{s[Key.DATASET]}_sweep.csv", "text/csv", key=Key.SWEEP_CSV)
