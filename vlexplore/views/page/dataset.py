"""The whole-set view (the paper's figure for this model and these examples, and the phrases
behind each bar) and the "What am I looking at?" page."""

from __future__ import annotations

import streamlit as st

from ...diagnostics import paper_results, results_frame, summarize, summary_frame
from ...engine import diagnose_dataset
from ...protocol import LANG4VIS, VIS4LANG
from ...runs import run_frame
from .. import figures, paper_figures, sources
from ..state import Key
from ..text import WHAT_AM_I_LOOKING_AT, baseline_caption, in_app_words, literal, model_line
from . import session

LABEL = figures.CONDITION_LABELS
SIDE_NAMES = {"vis4lang": "MLM", "lang4vis": "MRC-KL"}


def run_key(spec: str | None = None) -> tuple:
    """What a whole-set run depends on: the model (the current one, or ``spec`` beside it), the
    examples, the ablation settings and the precision (the key of ``session.dataset_runs``)."""
    state = session.current_state()
    return session.model_source(spec), session.dataset_source(), state.settings(), state.precision


def whole_set_run(spec: str | None = None) -> tuple[list, list[str]]:
    """One model's (results, skipped) on every diagnosable phrase of the set: from the session's
    cache of whole-set runs when it ran with these settings, else run now under a progress bar.
    Raises ValueError, in the user's words, when the model or the examples cannot load or run."""
    key = run_key(spec)
    return session.whole_set_run(key, lambda: diagnose_set(key))


def diagnose_set(key: tuple) -> tuple[list, list[str]]:
    """One whole-set run (the key of ``run_key``) under a progress bar: (results, skipped)."""
    (name, _, _), dataset_name = key[0], key[1][0]
    model = session.get_model(key[0])
    dataset = session.get_dataset(key[1])
    average = session.set_average(model, key[2])  # the engine resolves and records it
    total = len(dataset.units())
    bar = st.progress(0.0, text=f"Diagnosing {total} phrases with {literal(name)} …")
    results, skipped, done = [], [], [0]

    def advance(n: int) -> None:  # after each batch (results come a window of batches at a time)
        done[0] += n
        bar.progress(min(1.0, done[0] / max(total, 1)),
                     text=f"{literal(name)}: diagnosed {done[0]} of {total} phrases …")

    try:
        results.extend(diagnose_dataset(model, dataset, key[2], progress=advance, skipped=skipped,
                                        batch_size=32, average_feature=average, precision=key[3]))
    except (ValueError, RuntimeError) as error:  # e.g. a model that does not fit these features
        raise ValueError(f"{name} could not be run on {dataset_name}: {error}") from error
    finally:
        bar.empty()
    return results, skipped


def dataset_run() -> tuple[list, list[str]] | None:
    """Every diagnosable phrase of the set under the current model (cached per model, set and
    settings, with progress): (results, skipped), or None after showing why there are none."""
    s = st.session_state
    try:
        results, skipped = whole_set_run()
    except ValueError as error:
        st.error(literal(in_app_words(str(error))))
        return None
    if not results:
        st.error(literal(f"No phrase of {s[Key.DATASET]!r} could be diagnosed ({len(skipped)} skipped)."))
        return None
    return results, skipped


def summary_section(results: list, skipped: list[str]) -> None:
    """The paper's figure for this run (bars clickable), beside the published numbers."""
    s = st.session_state
    summary = summarize(results)
    st.subheader(literal(f"{s[Key.MODEL]} on {s[Key.DATASET]}: {summary['n']} phrases"))
    model = session.get_model(session.model_source())  # cached; it ran the set
    st.caption(model_line(s[Key.MODEL], getattr(model, "description", ""), s[Key.MODEL] in sources.BUILTIN_MODELS))
    st.caption(baseline_caption(*sorted({result.baseline for result in results})))  # as the results record
    if summary["lang4vis_note"]:
        st.info(f"MRC-KL n/a: {summary['lang4vis_note']}")
    readouts = {result.readout for result in results}
    if "causal" in readouts:
        st.caption("Causal readout: the MLM bars are the phrase's mean negative log-likelihood given the "
                   "words before it (left context only), not the paper's masked-LM loss.")
    if skipped:
        with st.expander(f"{len(skipped)} phrases skipped"):
            st.write(skipped)
    show_paper = st.toggle("Show the paper's published numbers (5 VOLTA models on Flickr30k Entities val)",
                           value=True, key=Key.SHOW_PAPER)
    fig = figures.dataset_figure(summary_frame(summary, s[Key.MODEL]), paper_results() if show_paper else None,
                                 model=f"{s[Key.MODEL]} (this run)")
    event = st.plotly_chart(fig, key=Key.DATASET_CHART, on_select="rerun", selection_mode="points")
    st.caption("Hatched grey bars: the paper's published numbers, for scale (different data and models). "
               "Click a bar of this run to list the phrases behind it.")
    points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) else []
    for point in points:
        data = point.get("customdata")
        if data and data[0] in SIDE_NAMES:
            if (s.get(Key.BAR_SIDE), s.get(Key.BAR_CONDITION)) != (data[0], data[1]):
                s.pop(Key.OPEN_ROW, None)  # another bar, another list: its choice starts at the top
            s[Key.BAR_SIDE], s[Key.BAR_CONDITION] = data[0], data[1]
            break


def forget_row() -> None:
    st.session_state.pop(Key.OPEN_ROW, None)


def open_chosen_row() -> None:
    """Open the phrase the "Open a phrase" box shows now (read at the click, never a stale row)."""
    example_id, _, phrase = st.session_state[Key.OPEN_ROW].rpartition(":")
    session.open_example(example_id, int(phrase), "example")


PAPER_FIGURE_TITLES = {
    "main": "Main figure", "thresholds": "Threshold sweep", "seeds": "Seeds",
    "labelmatch": "LabelMatch", "mrc_xe": "MRC-XE",
}


def paper_figures_section(results: list) -> None:
    """The paper's figures, read from the authors' tables, with this run drawn beside them."""
    s = st.session_state
    with st.expander("The paper's figures, with this run beside them", icon=":material/bar_chart:"):
        state = session.current_state()
        run = run_frame(results_frame(results), f"{s[Key.MODEL]} · {s[Key.DATASET]}", s[Key.MODEL],
                        state.threshold)
        drawn = paper_figures.paper_figures(run)
        for tab, name in zip(st.tabs(list(PAPER_FIGURE_TITLES.values())), PAPER_FIGURE_TITLES, strict=True):
            with tab:
                st.plotly_chart(drawn[name], key=f"{Key.PAPER_FIGURE}_{name}")
        st.caption("Hatched bars and grey points: published values, read from the authors' result tables "
                   "(assets/paper_results; Flickr30k Entities val, VOLTA models). Solid, outlined: this run. "
                   "`vlexplore figures --out DIR --runs RESULTS_DIR` writes them as PNG and HTML.")


def phrases_section(results: list) -> None:
    """The phrases behind the chosen bar, largest effect first; open one in the example view."""
    s = st.session_state
    c1, c2 = st.columns(2)
    session.keep_choice(Key.BAR_SIDE, tuple(SIDE_NAMES), "vis4lang")
    side = c1.radio("Side", tuple(SIDE_NAMES), key=Key.BAR_SIDE, horizontal=True, format_func=SIDE_NAMES.get,
                    on_change=forget_row)
    conditions = VIS4LANG if side == "vis4lang" else LANG4VIS
    if s.get(Key.BAR_CONDITION) not in conditions:
        s[Key.BAR_CONDITION] = conditions[1]
    condition = c2.radio("Condition", conditions, key=Key.BAR_CONDITION, horizontal=True, format_func=LABEL.get,
                         on_change=forget_row)
    frame = results_frame(results)
    table = figures.effect_table(frame, side, condition)
    st.markdown(f"**Phrases behind {SIDE_NAMES[side]} {LABEL[condition]}**, largest effect (vs None) first")
    st.dataframe(table, hide_index=True, height=240)
    if not table.empty:
        rows = table.head(200)
        labels = {f"{r.example_id}:{r.phrase_index}": f"{r.example_id} · {r.phrase} ({r.effect:+.3f} bits)"
                  for r in rows.itertuples()}
        # set, never left to the widget: a value the browser holds from an older list would show
        # blank (or stale) while the server already opened on another row
        s[Key.OPEN_ROW] = s.get(Key.OPEN_ROW) if s.get(Key.OPEN_ROW) in labels else next(iter(labels))
        st.selectbox("Open a phrase", list(labels), key=Key.OPEN_ROW, format_func=labels.get)
        st.button("Open in the example view", on_click=open_chosen_row, type="primary")
    st.download_button("All phrases (CSV)", frame.to_csv(index=False).encode(),
                       f"{s[Key.MODEL]}_{s[Key.DATASET]}_phrases.csv", "text/csv")


def about_section() -> None:
    st.markdown(WHAT_AM_I_LOOKING_AT)
    st.markdown("**The paper's published numbers** (bits; Flickr30k Entities val, VOLTA models):")
    st.dataframe(paper_results().pivot_table(index="model", columns=["metric", "condition"], values="bits",
                                             sort=False), height=240)
