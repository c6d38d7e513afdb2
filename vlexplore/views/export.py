"""Figures and tables as files for slides: PNG and HTML at a slide's size with room for every
label, file names without spaces, and one zip with everything about a phrase.

PNGs are rendered by kaleido, which drives a headless Chromium; starting one costs seconds,
so ``warm_renderer`` starts it once per process and every later PNG reuses it (well under the
2 s a click may take; ``benchmarks/bench_app.py --exports`` measures it). No streamlit here.
"""

from __future__ import annotations

import atexit
import io
import re
import threading
import warnings
import zipfile

import pandas as pd
import plotly.graph_objects as go

from .figures import for_slides

__all__ = ["SLIDE_SIZE", "SLIDE_FONT_PX", "file_name", "slide_figure", "warm_renderer", "png_bytes",
           "html_bytes", "phrase_zip"]

SLIDE_SIZE = (1600, 900)  # px at scale 1 (16:9); PNGs are rendered at scale 2
SLIDE_FONT_PX = 18
SLIDE_MARGIN_PX = 70
_lock = threading.Lock()
_warm = False


def file_name(*parts: str, ext: str) -> str:
    """``file_name("ex0_p1", "top predictions", ext="png")`` -> ``"ex0_p1_top-predictions.png"``:
    letters, digits, dots, dashes and underscores only (no spaces), parts joined by underscores."""
    clean = [re.sub(r"[^A-Za-z0-9._]+", "-", str(part)).strip("-._") for part in parts]
    return "_".join(part for part in clean if part) + f".{ext}"


def slide_figure(fig: go.Figure) -> go.Figure:
    """A copy sized for a 16:9 slide, large type, and margins that fit the axis labels."""
    slide = for_slides(fig, SLIDE_FONT_PX, margin_px=SLIDE_MARGIN_PX)
    slide.update_layout(width=SLIDE_SIZE[0], height=SLIDE_SIZE[1])
    return slide


def warm_renderer(prime: bool = False) -> None:
    """Start kaleido's renderer for this process once (later PNGs reuse it; stopped at exit).
    ``prime``: also render a blank figure in a background thread, so the browser it drives is
    up before the first click (its start is what costs seconds)."""
    global _warm
    with _lock:
        if _warm:
            return
        import kaleido

        kaleido.start_sync_server(silence_warnings=True)
        atexit.register(kaleido.stop_sync_server, silence_warnings=True)
        _warm = True
    if prime:
        threading.Thread(target=png_bytes, args=(go.Figure(),), kwargs=dict(scale=0.1), daemon=True,
                         name="kaleido-prime").start()


def png_bytes(fig: go.Figure, scale: float = 2) -> bytes:
    warm_renderer()
    slide = slide_figure(fig)
    with warnings.catch_warnings():  # plotly passes options a running renderer ignores, and says so
        warnings.simplefilter("ignore", UserWarning)
        return slide.to_image(format="png", width=SLIDE_SIZE[0], height=SLIDE_SIZE[1], scale=scale)


def html_bytes(fig: go.Figure, plotlyjs: bool | str = True) -> bytes:
    """A page that shows the figure offline (plotly.js inside, or ``"directory"``: beside it)."""
    return slide_figure(fig).to_html(include_plotlyjs=plotlyjs, full_html=True).encode()


def phrase_zip(figs: dict[str, go.Figure], tables: dict[str, pd.DataFrame], stem: str) -> bytes:
    """Every figure (PNG and HTML) and table (CSV) of one phrase, in one zip named by ``stem``;
    the HTML pages share one plotly.min.js beside them, so they open offline."""
    from plotly.offline import get_plotlyjs

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("plotly.min.js", get_plotlyjs())
        for name, fig in figs.items():
            archive.writestr(file_name(stem, name, ext="png"), png_bytes(fig))
            archive.writestr(file_name(stem, name, ext="html"), html_bytes(fig, "directory"))
        for name, frame in tables.items():
            archive.writestr(file_name(stem, name, ext="csv"), frame.to_csv(index=False))
    return buffer.getvalue()
