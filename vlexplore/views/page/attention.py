"""Attention beside ablation, in the example view: where the masked phrase looks under the None
condition, next to what the Object ablation costs it (models that expose their attention)."""

from __future__ import annotations

import streamlit as st

from ...attention import ATTENTION_NOTE, phrase_attention
from .. import figures
from ..state import Key
from ..text import literal
from . import session


@st.cache_resource(show_spinner="Reading the attention (one pass) …", max_entries=32)
def get_attention(key: str, _model, _example, phrase_index: int, settings, _baseline):
    """``key`` names model, example content and baseline, as ``session.get_diagnosis``."""
    average = session.average_given(_baseline)
    return phrase_attention(_model, _example, phrase_index, settings, average_feature=average)


def attention_section(view) -> dict:
    """The attention map beside the Object ablation, per-layer and per-head views, and the note."""
    model = view.model
    if not view.regions_model or view.edited is None or view.edited.regions is None or not model.has_attention:
        return {}
    with st.expander("Attention beside ablation: where the masked phrase looks (None condition)"):
        if not st.toggle("Read the attention (one more forward pass)", key=Key.ATTENTION_ON):
            return {}
        key, settings, baseline = session.phrase_inputs(view.edited, view.phrase_index)
        try:
            frame = get_attention(key, model, view.edited, view.phrase_index, settings, baseline)
        except (ValueError, RuntimeError) as error:
            st.error(literal(str(error)))
            return {}
        names = list(dict.fromkeys(frame["layer_name"]))
        layer = st.select_slider("Layer", list(range(len(names))), value=len(names) - 1,
                                 format_func=lambda i: names[i], key=Key.ATTENTION_LAYER)
        figs = {"attention map": figures.attention_map_figure(frame, view.diagnosis, view.image, layer, height=340),
                "object ablation": figures.object_effect_figure(view.diagnosis, view.image, height=340)}
        left, right = st.columns(2)
        with left:
            st.plotly_chart(figs["attention map"], key=Key.FIG_ATTENTION)
        with right:
            st.plotly_chart(figs["object ablation"], key=Key.FIG_OBJECT_EFFECT)
        figs["attention by layer"] = figures.attention_layers_figure(frame)
        st.plotly_chart(figs["attention by layer"], key=Key.FIG_ATTENTION_LAYERS)
        st.markdown(f"**Why attention and ablation can disagree.** {ATTENTION_NOTE}")
        st.download_button("Attention (CSV)", frame.to_csv(index=False).encode(),
                           f"{view.edited.example_id}_p{view.phrase_index}_attention.csv", "text/csv",
                           key=Key.ATTENTION_CSV)
    return figs
