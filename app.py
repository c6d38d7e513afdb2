"""vlexplore, the app: inspect the cross-modal input ablation of one phrase, or of a whole set.

Reads in page order: sidebar, picker, image and caption, toggles, scores, tabs, export. Each
section is a function in ``vlexplore.views.page`` (with ``app.py`` the only code that imports
streamlit); an example is computed first (cached library calls) and drawn after.
"""

from __future__ import annotations

import streamlit as st

from vlexplore.records import Example
from vlexplore.views.page import (
    attention,
    compare,
    dataset,
    example,
    figcache,
    picker,
    present,
    seeds,
    session,
    sweep,
)
from vlexplore.views.page.guard import guarded
from vlexplore.views.page.sidebar import sidebar
from vlexplore.views.state import Key
from vlexplore.views.text import WHAT_AM_I_LOOKING_AT, literal

st.set_page_config(page_title="vlexplore", page_icon=":material/visibility:", layout="wide",
                   initial_sidebar_state="collapsed" if st.query_params.get("present") == "1" else "auto")
COMPACT_CSS = """<style>
.block-container {padding-top: 2.2rem; padding-bottom: 2rem;}
[data-testid="stMetricValue"] {font-size: 1.6rem;}
</style>"""


RESULT_TABS = {  # the tabs under a result, with the widget keys drawn in each
    "Language (MLM)": (Key.TOKEN_INDEX, Key.PHRASE_SWEEP_ON, Key.ATTENTION_ON, Key.ATTENTION_LAYER),
    example.VISION_TAB: (Key.CLASS_REGION,),
    "Models side by side": (Key.COMPARE_MODELS, Key.COMPARE_EXTRA),
    "Tables & export": (Key.EXPORT_FIGURE,),
}


def example_view() -> None:
    chosen = picker.pick()
    picker.picker_section(chosen)
    if chosen.example is None:
        return
    if st.session_state[Key.PRESENT]:
        present.presenter_view(chosen.example)
        return
    example_result(chosen.example)


@st.fragment
def example_result(picked: Example) -> None:
    """Everything under the picker. A widget in here (condition, phrase, token, region, tab, the
    editors) reruns this alone, not the sidebar and the picker: the result comes from the cache
    and its figures from the session's (a condition switch runs no model, builds no figure)."""
    session.keep_choices()  # a condition sent back empty keeps the last one (sync_state does this for a full run)
    with guarded("result"):  # as main(): a fragment's rerun does not pass through it
        example_sections(example.compute(picked))  # every library call, cached; nothing drawn yet
    with guarded("saving the state"):
        session.save_state()  # a rerun of this alone must update the address bar too


def example_sections(view: example.ExampleView) -> None:
    if view.model is None:
        example.messages_section(view)
        return
    example.model_section(view)
    left, right = st.columns([11, 9], gap="medium")
    with left, guarded("image"):
        example.image_section(view)
    with right, guarded("caption, toggles and scores"):
        example.caption_section(view)
        if view.edited is not None:
            example.toggles_section(view)
            example.scores_section(view)
    example.messages_section(view)
    if view.diagnosis is None:
        return
    # only the open tab is drawn (a switch reruns this fragment and draws it, figures from the
    # cache): a condition switch or a new example redraws one tab's figures, not four tabs'
    tabs = st.tabs(list(RESULT_TABS), key=Key.RESULT_TAB, on_change="rerun")
    for tab, keys in zip(tabs, RESULT_TABS.values(), strict=True):
        if not tab.open:  # keep the choices made in a closed tab (Streamlit drops an undrawn widget's)
            for key in keys:
                if key in st.session_state:
                    st.session_state[key] = st.session_state[key]
    tab_lang, tab_vision, tab_models, tab_tables = tabs
    figs = {}
    if tab_lang.open:
        with tab_lang, guarded("language tab"):
            example.language_tab(view)
        with tab_lang, guarded("threshold sweep"):
            figs = sweep.phrase_sweep_section(view)
        with tab_lang, guarded("attention"):
            figs |= attention.attention_section(view)
    if tab_vision.open:
        with tab_vision, guarded("vision tab"):
            figs = example.vision_tab(view)
    if tab_models.open:
        with tab_models, guarded("models side by side"):
            figs = compare.compare_section(view)
    drawn = figcache.once("drawn figures", view.diagnosis, dict)  # a sweep, the attention, models side by side
    drawn.update(figs)
    if tab_tables.open:
        with tab_tables, guarded("tables and export"):
            tables = example.tables_tab(view)
            figs = example.result_figures(view)
            figs |= {name: fig for name, fig in drawn.items() if name not in figs}
            example.export_section(figs, tables, f"{view.edited.example_id}_p{view.phrase_index}")


def dataset_view() -> None:
    run = dataset.dataset_run()
    if run is not None:
        results, skipped = run
        with guarded("summary"):
            dataset.summary_section(results, skipped)
        with guarded("paper figures"):
            dataset.paper_figures_section(results)
        with guarded("models on the whole set"):
            compare.whole_set_section()
        with guarded("phrases"):
            dataset.phrases_section(results)
        with guarded("seed families"):
            seeds.seeds_section()
        with guarded("threshold sweep"):
            sweep.dataset_sweep_section()


def main() -> None:
    """Each part of the page inside ``guarded``: bad input is its message in place, anything else
    an internal error (logged); the state is saved whatever happened, so the link still works."""
    ready = False
    with guarded("page setup"):
        st.markdown(COMPACT_CSS, unsafe_allow_html=True)
        session.sync_state()
        ready = True
    if not ready:  # no state to draw from: the message above says why
        return
    with guarded("sidebar"):
        sidebar()
    with guarded("page"):
        page()
    with guarded("saving the state"):
        session.save_state()


def page() -> None:
    for problem in st.session_state.pop(Key.LINK_PROBLEMS, []):
        st.warning(literal(problem))
    view = st.session_state[Key.VIEW]
    if view != "about" and not st.session_state[Key.PRESENT]:
        with st.expander("What am I looking at?", icon=":material/info:"):
            st.markdown(WHAT_AM_I_LOOKING_AT)
    if view == "example":
        example_view()
    elif view == "dataset":
        dataset_view()
    else:
        dataset.about_section()


main()
