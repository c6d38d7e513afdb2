"""The Language tab's bar charts on the page: SVG drawn by a small Streamlit component
(``st.components.v2``, JavaScript served by the app itself from ``barchart.js``) from the
specs of ``views/charts.py``. Why not plotly: these were the first page's only plotly charts,
and without them the browser loads no plotly.js bundle (4.7 MB) for the first example. The
plotly figures stay for exports and the presenter view.
"""

from __future__ import annotations

from pathlib import Path

import streamlit.components.v2 as components

CSS = """
svg.vlx-chart { display: block; width: 100%; height: auto; font-family: "Source Sans Pro", sans-serif;
                fill: #31333f; }
svg.vlx-chart .vlx-grid { stroke: #e5e7eb; stroke-width: 1; }
svg.vlx-chart .vlx-axis { stroke: #9ca3af; stroke-width: 1; }
svg.vlx-chart .vlx-title { font-size: 14px; }
svg.vlx-chart .vlx-panel-title { font-size: 13px; }
svg.vlx-chart .vlx-in { fill: white; font-size: 0.9em; }
svg.vlx-chart .vlx-out { font-size: 0.9em; }
svg.vlx-chart rect[data-value]:hover { opacity: 0.8; }
"""

_chart = components.component(
    "vlexplore_barchart", js=Path(__file__).with_name("barchart.js").read_text(encoding="utf-8"), css=CSS,
    isolate_styles=False)


def draw(spec: dict, key: str) -> None:
    """Draw a ``views.charts`` spec under ``key`` (stable: the element stays, its SVG is redrawn)."""
    _chart(key=key, data=spec)
