"""The example's picture on the page: an SVG drawn by a small Streamlit component
(``st.components.v2``, JavaScript served by the app itself from ``picture.js``).

Why not a plotly chart: Streamlit gives a chart whose figure changed a new identity, so the
browser runs ``Plotly.newPlot`` on every condition switch (the outlines change) and on every
new example. The component keeps its DOM node under a stable key and updates the image and
the outlines in place. The figures for export stay plotly (``overlay.image_figure``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st
import streamlit.components.v2 as components

CSS = """
svg.vlx-picture { display: block; width: 100%; user-select: none; touch-action: none; }
svg.vlx-picture.vlx-drag { cursor: crosshair; }
svg.vlx-picture .vlx-outlines rect { fill: none; pointer-events: visibleStroke; }
svg.vlx-picture .vlx-hits rect { fill: transparent; pointer-events: all; }
svg.vlx-picture [data-region] { cursor: pointer; }
svg.vlx-picture .vlx-badge { pointer-events: none; }
svg.vlx-picture .vlx-badge text { fill: white; font-family: sans-serif; }
svg.vlx-picture .vlx-rubber { display: none; fill: rgba(120, 120, 120, 0.15); stroke: #555;
                              stroke-dasharray: 4 3; pointer-events: none; }
"""

_picture = components.component(
    "vlexplore_picture", js=(Path(__file__).with_name("picture.js")).read_text(encoding="utf-8"), css=CSS,
    isolate_styles=False)


def draw(spec: dict, key: str, on_region: Callable[[], None] | None = None) -> None:
    """Draw ``overlay.picture_spec`` under ``key``. What the user did comes back in
    ``st.session_state[key]`` for one run: ``box`` (a dragged rectangle, image pixels) and
    ``region`` (a clicked region; ``on_region`` runs first)."""
    _picture(key=key, data=spec, height=spec["display_height"],
             on_box_change=lambda: None, on_region_change=on_region or (lambda: None))


def event(key: str, name: str):
    """The value of ``name`` ("box" or "region") the picture under ``key`` sent, or None."""
    value = st.session_state.get(key)
    return value.get(name) if hasattr(value, "get") else None
