"""Models side by side, in the example view: the chosen phrase's six scores and per-token losses
under up to four loaded models at once (each kept in the model cache), with what each takes
in memory."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ... import registry
from ...compare import memory_bytes, scores_frame
from .. import examples as ex
from .. import figures
from ..state import Key
from . import session

MOST = 4  # the model cache holds four (session.get_model)


def compare_section(view) -> dict:
    """The current model beside the ones chosen here; returns the figure for export."""
    s = st.session_state
    current = s[Key.MODEL]
    named = [name for name, entry in registry.MODELS.items() if not entry.prefix and name != current]
    c1, c2 = st.columns(2)
    chosen = c1.multiselect(f"Models beside {current}", named, key=Key.COMPARE_MODELS)
    typed = c2.text_input("Others (model specs, comma-separated, e.g. hf:/models/lxmert-base)",
                          key=Key.COMPARE_EXTRA)
    specs = list(dict.fromkeys([current, *chosen, *(x.strip() for x in typed.split(",") if x.strip())]))
    if len(specs) > MOST:
        st.warning(f"At most {MOST} models at once (so that none is evicted); showing the first {MOST}.")
        specs = specs[:MOST]
    if len(specs) == 1:
        st.info("Choose or type another model to see this phrase under both.")
        return {}
    settings = session.current_state().settings()
    diagnoses, rows = {}, []
    for spec in specs:
        source = session.model_source(spec)
        try:
            model = session.get_model(source)
            if spec == current:
                diagnosis = view.diagnosis
            else:
                baseline = session.ablation_baseline(
                    settings, view.edited.regions.features if view.edited.regions is not None else None)
                key = f"{source}|{ex.fingerprint(view.edited)}|{view.phrase_index}|{baseline.source}"
                diagnosis = session.get_diagnosis(key, model, view.edited, view.phrase_index, settings, baseline,
                                                  precision=session.current_state().precision)
        except (ValueError, RuntimeError) as error:
            st.warning(f"{spec}: {error}")
            continue
        diagnoses[spec] = diagnosis
        rows.append({"model": spec, "memory (MB)": round(memory_bytes(model) / 2**20, 1),
                     "baseline": diagnosis.baseline.source, "description": model.description})  # fmt: skip
    if len(diagnoses) < 2:
        return {}
    scores = scores_frame(diagnoses)
    fig = figures.models_figure(scores)
    st.plotly_chart(fig, key=Key.FIG_MODELS)
    table = scores.pivot_table(index="model", columns=["metric", "condition"], values="bits", sort=False)
    table.columns = [f"{metric} {condition}" for metric, condition in table.columns]
    st.dataframe(pd.DataFrame(rows).set_index("model").join(table), height=40 + 36 * len(rows))
    tokens = pd.concat([d.tokens.assign(model=name) for name, d in diagnoses.items() if not d.tokens.empty])
    st.markdown("**MLM loss per masked sub-token (bits)**: the models may cut the phrase differently")
    st.dataframe(tokens.pivot_table(index=["model", "token_index", "token"], columns="condition",
                                    values="mlm_bits", sort=False)[["none", "object", "all"]])  # fmt: skip
    return {"models side by side": fig}
