"""Models side by side. In the example view: the chosen phrase's six scores and per-token losses
under up to four loaded models at once (each kept in the model cache), with what each takes in
memory. In the whole-set view: every loaded model's run of the set, grouped like the paper's
main figure. One picker serves both views and keeps its choice between them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ... import registry
from ...compare import memory_bytes, runs_frame, scores_frame
from .. import examples as ex
from .. import figures, paper_figures
from ..state import Key
from ..text import in_app_words, literal
from . import dataset, session

MOST = 4  # the model cache holds four (session.get_model)


def models_picker() -> list[str]:
    """The current model first, then those chosen or typed beside it (at most ``MOST``)."""
    s = st.session_state
    current = s[Key.MODEL]
    named = [name for name, entry in registry.MODELS.items() if not entry.prefix and name != current]
    if Key.COMPARE_MODELS in s:  # a choice kept from the other view, less the model now current
        s[Key.COMPARE_MODELS] = [name for name in s[Key.COMPARE_MODELS] if name in named]
    c1, c2 = st.columns(2)
    chosen = c1.multiselect(f"Models beside {current}", named, key=Key.COMPARE_MODELS)
    typed = c2.text_input("Others (model specs, comma-separated, e.g. hf:/models/lxmert-base)",
                          key=Key.COMPARE_EXTRA)
    specs = list(dict.fromkeys([current, *chosen, *(x.strip() for x in typed.split(",") if x.strip())]))
    if len(specs) > MOST:
        st.warning(f"At most {MOST} models at once (so that none is evicted); showing the first {MOST}.")
        specs = specs[:MOST]
    return specs


def compare_section(view) -> dict:
    """The current model beside the ones chosen here; returns the figure for export."""
    current = st.session_state[Key.MODEL]
    specs = models_picker()
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
                    settings, view.edited.regions.features if view.edited.regions is not None else None, source)
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


def whole_set_section() -> None:
    """Every loaded model on the whole set, grouped like the paper's main figure. A model already
    run with these settings comes from the session's run cache; the others run when asked."""
    s = st.session_state
    with st.expander("Models side by side on the whole set", icon=":material/compare_arrows:", expanded=True):
        specs = models_picker()
        if len(specs) == 1:
            st.info("Choose or type another model (here, or in the example view's \"Models side by side\" tab) "
                    "to see its bars beside this one's.")
            return
        cache, failed = session.dataset_runs(), s.setdefault(Key.GROUP_FAILED, {})  # run key -> why
        pending = [spec for spec in specs if cache.get_recent(dataset.run_key(spec)) is None]
        if pending:
            st.caption(f"Still to run on {s[Key.DATASET]}: {', '.join(pending)} (models already run with these "
                       "settings are not run again).")
        asked = bool(pending) and st.button("Run the whole set for every loaded model", key=Key.GROUP_RUN,
                                            type="primary")
        if not asked and any(dataset.run_key(spec) not in failed for spec in pending):
            return
        runs = {}
        for spec in specs:  # each not yet run shows its own progress bar
            key = dataset.run_key(spec)
            if key in failed and not asked:  # it failed with these settings: tried again only when asked
                st.warning(literal(in_app_words(failed[key])))
                continue
            try:
                results, _ = dataset.whole_set_run(spec)
            except ValueError as error:
                failed[key] = str(error)
                st.warning(literal(in_app_words(str(error))))
                continue
            failed.pop(key, None)
            if results:
                runs[spec] = results
        if len(runs) < 2:
            return
        frame = runs_frame(runs, s[Key.DATASET], session.current_state().threshold)
        every = st.toggle("Every published model for scale (else only the loaded models' own)", value=True,
                          key=Key.GROUP_ALL_PAPER)
        fig = paper_figures.main_figure(runs=frame, height=500, published="all" if every else "matching")
        st.plotly_chart(fig, key=Key.FIG_GROUPED)
        st.caption("Each loaded model is a group of its own, named above and under its bars; a model the paper "
                   "published (volta:uniter, ...) stands right after its hatched published bars.")
        table = frame[frame["subset"] == "all"].pivot_table(index="run", columns=["metric", "condition"],
                                                            values="value", sort=False)
        table = table.reindex(list(dict.fromkeys(frame["run"])))  # in the order of ``runs``
        table.columns = [f"{metric} {figures.CONDITION_LABELS[c]}" for metric, c in table.columns]
        table.insert(0, "phrases", [len(results) for results in runs.values()])
        table.insert(1, "memory (MB)", [round(memory_bytes(session.get_model(session.model_source(spec))) / 2**20, 1)
                                        for spec in runs])  # each one held in the model cache
        st.dataframe(table.round(3))
        st.download_button("Every model's means (CSV)", frame.to_csv(index=False).encode(),
                           f"models_{s[Key.DATASET]}.csv", "text/csv", key=Key.GROUP_CSV)
