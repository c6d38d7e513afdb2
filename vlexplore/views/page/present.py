"""Presenter mode: one example large, its headline result and the paper's story in one line,
and a deck of prepared examples to step through (with buttons or PageDown / PageUp).

The deck lives in the view state (``deck=EXAMPLE:PHRASE,...``), so the address bar saves and
shares it with the mode itself (``present=1``).
"""

from __future__ import annotations

import math

import streamlit as st

from ..figures import default_token, for_slides, token_figure, topk_figure
from ..state import Key, format_deck, parse_deck
from ..text import story_line
from . import example, session
from .example import ExampleView

FONT_PX = 18  # the page's text in presenter mode (plots: PLOT_FONT_PX)
PLOT_FONT_PX = 16
IMAGE_COLUMN_PX, IMAGE_MAX_PX = 1080, 640  # the picture's column at 1920 px, and its height there
CSS = f"""<style>
.block-container {{max-width: 100%; padding: 3.4rem 2.2rem 2rem;}}
[data-testid="stMain"] :is(p, li, label, button, span, kbd, div[data-testid="stCaptionContainer"]) {{
  font-size: {FONT_PX}px;}}
[data-testid="stMain"] button * {{font-size: {FONT_PX}px !important;}}
[data-testid="stMain"] [data-testid="stMetricValue"] * {{font-size: 2.6rem !important; line-height: 1.2;}}
[data-testid="stMain"] [data-testid="stMetricLabel"] * {{font-size: 1.2rem !important;}}
[data-testid="stMain"] [data-testid="stMetricDelta"] * {{font-size: 1.2rem !important;}}
[data-testid="stMain"] .st-key-presenter_story * {{font-size: 1.6rem !important; line-height: 1.35;}}
[data-testid="stMain"] .st-key-presenter_caption * {{font-size: 1.9rem !important; line-height: 1.5;}}
</style>"""


# ---------------------------------------------------------------- the deck
def deck() -> list[tuple[str, int]]:
    return parse_deck(st.session_state[Key.DECK])[0]


def here() -> tuple[str, int]:
    return st.session_state[Key.EXAMPLE], int(st.session_state[Key.PHRASE])


def step(offset: int) -> None:
    """Open the next (+1) or previous (-1) entry of the deck; from outside it, its first."""
    entries = deck()
    if not entries:
        return
    position = entries.index(here()) + offset if here() in entries else 0
    example_id, phrase = entries[position % len(entries)]
    session.open_example(example_id, phrase)


def add_here() -> None:
    s = st.session_state
    if s[Key.EXAMPLE] != session.UPLOAD_ID and here() not in deck():
        s[Key.DECK] = format_deck([*deck(), here()])


def remove_here() -> None:
    st.session_state[Key.DECK] = format_deck([entry for entry in deck() if entry != here()])


def deck_bar() -> None:
    """Previous / next, where this view is in the deck, and the buttons that edit the deck."""
    entries = deck()
    inside = here() in entries
    c1, c2, c3, c4 = st.columns([1, 1, 2.2, 2.2], vertical_alignment="center")
    c1.button("Previous", icon=":material/arrow_back:", key=Key.DECK_PREVIOUS, on_click=step, args=(-1,),
              disabled=not entries, shortcut="PageUp", width="stretch", help="PageUp")
    c2.button("Next", icon=":material/arrow_forward:", key=Key.DECK_NEXT, on_click=step, args=(1,),
              disabled=not entries, shortcut="PageDown", width="stretch", type="primary", help="PageDown")
    c3.markdown(f"Deck: **{entries.index(here()) + 1} of {len(entries)}**" if inside
                else f"Deck: {len(entries)} views; this one is not in it")
    if inside:
        c4.button("Take this view out of the deck", icon=":material/remove:", key=Key.DECK_EDIT,
                  on_click=remove_here, width="stretch")
    else:
        c4.button("Add this view to the deck", icon=":material/add:", key=Key.DECK_EDIT, on_click=add_here,
                  width="stretch", disabled=st.session_state[Key.EXAMPLE] == session.UPLOAD_ID,
                  help="Uploaded images live in your session only and cannot join a shared deck.")


# ---------------------------------------------------------------- the view
def story(view: ExampleView) -> str:
    """The paper's two measurements for this phrase, in one sentence."""
    v4l, l4v = view.diagnosis.scores["vis4lang"], view.diagnosis.scores["lang4vis"]
    region = l4v["phrase"] - l4v["none"] if not math.isnan(l4v["phrase"]) else math.nan
    return story_line(view.edited.phrases[view.phrase_index].text, v4l["object"] - v4l["none"], region)


def presenter_view(chosen) -> None:
    """The example view for a room: picture and headline side by side, the story, the tokens."""
    st.markdown(CSS, unsafe_allow_html=True)
    view = example.compute(chosen)
    deck_bar()
    if view.model is None:
        example.messages_section(view)
        return
    left, right = st.columns([3, 2], gap="large")
    with left:
        example.image_section(view, IMAGE_COLUMN_PX, IMAGE_MAX_PX, font_px=PLOT_FONT_PX)
    with right:
        with st.container(key="presenter_caption"):
            example.coloured_caption(view)
        example.phrase_choice(view)
        if view.diagnosis is not None:
            with st.container(key="presenter_story"):
                st.markdown(story(view))
            example.toggles_section(view)
            example.scores_section(view)
    example.messages_section(view)
    if view.diagnosis is not None:
        diagnosis, shown = view.diagnosis, st.session_state[Key.VIS4LANG]
        token = st.session_state.get(Key.TOKEN_INDEX)
        token = default_token(diagnosis.tokens) if token is None else int(token)
        c1, c2 = st.columns(2)
        c1.plotly_chart(for_slides(token_figure(diagnosis, shown, height=360), PLOT_FONT_PX), key=Key.FIG_TOKENS)
        c2.plotly_chart(for_slides(topk_figure(diagnosis, token, shown, height=360), PLOT_FONT_PX),
                        key=Key.FIG_TOPK)
