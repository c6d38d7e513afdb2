"""vlexplore, the app: inspect the cross-modal input ablation of one phrase, or of a whole set.

Reads in page order: sidebar, picker, image and caption, toggles, scores, tabs, export. Each
section is a function in ``vlexplore.views.page`` (with ``app.py`` the only code that imports
streamlit); an example is computed first (cached library calls) and drawn after.
"""

from __future__ import annotations

import streamlit as st

from vlexplore.errors import internal_error_message, log_internal_error
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
    "Vision (MRC-KL)": (Key.CLASS_REGION,),
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
    try:
        example_sections(example.compute(picked))  # every library call, cached; nothing drawn yet
        session.save_state()  # a rerun of this alone must update the address bar too
    except Exception as error:  # as main(): a fragment's rerun does not pass through it
        internal_error(error)


def example_sections(view: example.ExampleView) -> None:
    if view.model is None:
        example.messages_section(view)
        return
    example.model_section(view)
    left, right = st.columns([11, 9], gap="medium")
    with left:
        example.image_section(view)
    with right:
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
        with tab_lang:
            figs = example.language_tab(view)
            figs |= sweep.phrase_sweep_section(view)
            figs |= attention.attention_section(view)
    if tab_vision.open:
        with tab_vision:
            figs = example.vision_tab(view)
    if tab_models.open:
        with tab_models:
            figs = compare.compare_section(view)
    drawn = figcache.once("drawn figures", view.diagnosis, dict)  # a sweep, the attention, models side by side
    drawn.update(figs)
    if tab_tables.open:
        with tab_tables:
            tables = example.tables_tab(view)
            figs = example.result_figures(view)
            figs |= {name: fig for name, fig in drawn.items() if name not in figs}
            example.export_section(figs, tables, f"{view.edited.example_id}_p{view.phrase_index}")


def dataset_view() -> None:
    run = dataset.dataset_run()
    if run is not None:
        results, skipped = run
        dataset.summary_section(results, skipped)
        dataset.paper_figures_section(results)
        compare.whole_set_section()
        dataset.phrases_section(results)
        seeds.seeds_section()
        sweep.dataset_sweep_section()


def main() -> None:
    try:
        page()
    except Exception as error:
        internal_error(error)


def internal_error(error: Exception) -> None:
    """A bug, not the user's input: say so in place and log it."""
    message = internal_error_message(error, log_internal_error("app"))
    st.error(literal(message), icon=":material/bug_report:")


def page() -> None:
    st.markdown(COMPACT_CSS, unsafe_allow_html=True)
    session.sync_state()
    sidebar()
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
    session.save_state()


main()
