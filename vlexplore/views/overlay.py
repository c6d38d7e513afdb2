"""Pictures of one example: the image with gold boxes, detector regions, ablation marks
and a heat map of per-region change, plus the caption with each phrase in its colour.

Colours are mid-lightness and every fill is translucent, so marks stay visible on the
light and the dark theme alike. No streamlit here: pure functions returning figures/HTML.
"""

from __future__ import annotations

import base64
import re

import cv2
import numpy as np
import plotly.graph_objects as go

from ..images import example_picture
from ..records import Example, Phrase
from .text import literal

__all__ = [
    "PHRASE_COLOURS",
    "phrase_colour",
    "rgba",
    "caption_html",
    "example_image",
    "png_data_uri",
    "region_heat",
    "image_figure",
    "picture_spec",
    "detections_figure",
    "thumbnail",
]

# Okabe & Ito's colour-blind-safe palette (black left out: it vanishes on the dark theme), in
# an order whose first colours stay far apart under protanopia, deuteranopia and tritanopia
# (tests/test_colours.py simulates them).
PHRASE_COLOURS: tuple[str, ...] = (
    "#E69F00", "#0072B2", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
)
REGION_COLOUR = "rgba(140, 140, 140, 0.55)"  # detector regions, faint grey on either theme
# Replaced regions and the MRC target are marked by outline only (never a fill that recolours
# the objects whose colour words are masked): a dark dashed line on a white halo, neutral to
# every phrase colour and visible on light and dark pixels alike.
MARK_COLOUR, MARK_HALO = "#111111", "rgba(255, 255, 255, 0.9)"
ABLATED_COLOUR = MARK_COLOUR  # the name other modules know
DISPLAY_MAX_SIDE = 900  # the image travels to the browser downscaled to this


def phrase_colour(index: int) -> str:
    return PHRASE_COLOURS[index % len(PHRASE_COLOURS)]


def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha})"


def _phrase_span(caption: str, phrase: Phrase) -> tuple[int, int]:
    if 0 <= phrase.char_start < phrase.char_end:
        return phrase.char_start, phrase.char_end
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", caption)]
    last = phrase.first_word + phrase.num_words - 1
    if last >= len(spans):
        return -1, -1
    return spans[phrase.first_word][0], spans[last][1]


def caption_html(caption: str, phrases: list[Phrase], selected: int | None = None) -> str:
    """The caption as HTML with each phrase underlined and tinted in its box colour.

    Text colour is left to the theme; only the tint and the underline carry the phrase colour.
    """
    spans = []
    for index, phrase in enumerate(phrases):
        start, end = _phrase_span(caption, phrase)
        if start >= 0:
            spans.append((start, end, index))
    spans.sort()
    out, cursor = [], 0
    for start, end, index in spans:
        if start < cursor:  # overlapping phrases: the first one wins
            continue
        out.append(literal(caption[cursor:start]))
        colour = phrase_colour(index)
        weight = "700" if index == selected else "400"
        style = (
            f"background:{rgba(colour, 0.22)};border-bottom:3px solid {colour};"
            f"padding:0 3px;border-radius:3px;font-weight:{weight}"
        )
        boxes = "no box" if len(phrase.boxes) == 0 else f"{len(phrase.boxes)} box(es)"
        out.append(
            f'<span class="vlx-phrase" data-phrase="{index}" title="phrase {index}: {boxes}" '
            f'style="{style}">{literal(caption[start:end])}</span>'
        )
        cursor = end
    out.append(literal(caption[cursor:]))
    return "".join(out)


def example_image(example: Example) -> np.ndarray:
    """The example's picture, or a neutral canvas of its size when it has none (features only;
    ``Example`` bounds the size by the images' pixel limit)."""
    image = example_picture(example)
    if image is not None:
        return image
    width, height = example.image_size
    return np.full((height, width, 3), 200, dtype=np.uint8)


def _display_scale(image_size: tuple[int, int]) -> float:
    return min(1.0, DISPLAY_MAX_SIDE / max(image_size))


def png_data_uri(image: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> str:
    """Encode an RGB image as a PNG data URI, downscaled so its longest side is <= max_side."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(width, height))
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA)
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the image as PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.tobytes()).decode("ascii")


def region_heat(boxes: np.ndarray, values: np.ndarray, image_size: tuple[int, int],
                cells: int = 96) -> np.ndarray:
    """A coarse (rows, cols) map: each cell holds the mean value of the regions covering it.

    Cells no region covers are NaN (drawn transparent). The grid has ``cells`` along the
    longer side; cell (i, j) covers pixels [j*s, (j+1)*s) x [i*s, (i+1)*s).
    """
    width, height = image_size
    step = max(width, height) / cells
    cols, rows = max(1, round(width / step)), max(1, round(height / step))
    xs = (np.arange(cols) + 0.5) * width / cols
    ys = (np.arange(rows) + 0.5) * height / rows
    total = np.zeros((rows, cols))
    count = np.zeros((rows, cols))
    for (x1, y1, x2, y2), value in zip(np.asarray(boxes, float), np.asarray(values, float), strict=True):
        if not np.isfinite(value):
            continue
        inside = ((ys >= y1) & (ys <= y2 + 1))[:, None] & ((xs >= x1) & (xs <= x2 + 1))[None, :]
        total += inside * value
        count += inside
    with np.errstate(invalid="ignore", divide="ignore"):
        heat = total / count
    heat[count == 0] = np.nan
    return heat


def _outline(box, colour: str, width: float, dash: str = "solid", name: str = "", region: int | None = None) -> dict:
    """One outline on the picture, in image pixels (edges on the pixel borders); the plotly
    picture draws it as a layout shape, the app's picture (``picture_spec``) as an SVG rect."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return dict(box=[x1 - 0.5, y1 - 0.5, x2 + 0.5, y2 + 0.5], colour=colour, width=width, dash=dash, name=name,
                region=region)


def _rect(outline: dict) -> dict:
    x0, y0, x1, y1 = outline["box"]
    return dict(type="rect", x0=x0, y0=y0, x1=x1, y1=y1,
                line=dict(color=outline["colour"], width=outline["width"], dash=outline["dash"]),
                fillcolor="rgba(0,0,0,0)", name=outline["name"], layer="above")


def _outlines(phrases: list[Phrase], selected: int | None, region_boxes: np.ndarray | None,
              ablated: np.ndarray | None, target: int | None) -> list[dict]:
    """Detector regions (faint grey, or a dashed outline when replaced), the MRC target, then each
    phrase's gold boxes in its colour (the selected phrase thickest), in drawing order."""
    outlines: list[dict] = []
    if region_boxes is not None and len(region_boxes):
        ablated = np.zeros(len(region_boxes), bool) if ablated is None else np.asarray(ablated, bool)
        for index, box in enumerate(region_boxes):
            if ablated[index]:
                outlines.append(_outline(box, MARK_HALO, 3.2, name=f"region {index} (ablated, halo)"))
                outlines.append(_outline(box, MARK_COLOUR, 1.6, "dash", f"region {index} (ablated)", index))
            else:
                outlines.append(_outline(box, REGION_COLOUR, 1.0, name=f"region {index}", region=index))
        if target is not None and 0 <= target < len(region_boxes):
            outlines.append(_outline(region_boxes[target], MARK_HALO, 4.5, name="MRC target (halo)"))
            outlines.append(_outline(region_boxes[target], MARK_COLOUR, 3.0, "dot", "MRC target",
                                     target))
    for index, phrase in enumerate(phrases):
        for box in phrase.boxes:
            outlines.append(_outline(box, phrase_colour(index), 4.0 if index == selected else 2.0,
                                     name=f"phrase {index}: {phrase.text}"))
    return outlines


def _target_badge(region_boxes: np.ndarray | None, target: int | None) -> dict | None:
    """Where the MRC target's badge sits: inside the box's top-left corner, never clipped."""
    if region_boxes is None or target is None or not 0 <= target < len(region_boxes):
        return None
    x1, y1 = region_boxes[target][:2]
    return dict(x=float(x1), y=float(y1), text="target")


def image_figure(
    image: np.ndarray,
    phrases: list[Phrase],
    selected: int | None = None,
    region_boxes: np.ndarray | None = None,
    ablated: np.ndarray | None = None,
    target: int | None = None,
    heat: np.ndarray | None = None,
    heat_title: str = "",
    heat_range: float | None = None,
    height: int = 420,
    selectable: bool = False,
) -> go.Figure:
    """The image with detector regions (faint), ablated regions (dashed outline), the MRC target,
    and each phrase's gold boxes in its colour (the selected phrase drawn thickest).

    ``heat_range``: the colour scale runs over [-heat_range, heat_range] (symmetric, so white is
    no change); None centres it on zero and lets plotly pick the ends.
    ``selectable`` adds box-select drag mode and two invisible points at opposite corners (a
    select drag needs a selectable trace; the rectangle comes back as a selection whether or
    not it holds a point, and the app turns it into a gold box). A grid of points there cost
    the browser 1,200 SVG nodes to draw on every redraw of the image.
    """
    height_px, width_px = image.shape[:2]
    scale = _display_scale((width_px, height_px))
    fig = go.Figure()
    fig.add_trace(go.Image(source=png_data_uri(image), x0=0, y0=0, dx=1 / scale, dy=1 / scale,
                           hoverinfo="skip", name="image"))
    shapes = [_rect(outline) for outline in _outlines(phrases, selected, region_boxes, ablated, target)]
    badge = _target_badge(region_boxes, target)
    if badge is not None:
        fig.add_annotation(**badge, showarrow=False, xanchor="left", yanchor="top",
                           font=dict(color="white", size=11), bgcolor=MARK_COLOUR, borderpad=1)
    if heat is not None:
        rows, cols = heat.shape
        fig.add_trace(go.Heatmap(
            z=heat, x0=width_px / cols / 2, dx=width_px / cols, y0=height_px / rows / 2,
            dy=height_px / rows, colorscale="RdBu", reversescale=True, opacity=0.55,
            **(dict(zmin=-heat_range, zmax=heat_range) if heat_range else dict(zmid=0)),
            hoverongaps=False, colorbar=dict(title=dict(text=heat_title, side="right"), thickness=12),
            hovertemplate="change %{z:.3f} bits<extra></extra>", name="change",
        ))
    if selectable:
        fig.add_trace(go.Scatter(x=[0, width_px - 1], y=[0, height_px - 1], mode="markers",
                                 marker=dict(opacity=0), hoverinfo="skip", showlegend=False, name="select"))
    fig.update_layout(
        shapes=shapes,
        height=height,
        margin=dict(l=0, r=0, t=4, b=0),
        dragmode="select" if selectable else "pan",
        showlegend=False,
    )
    fig.update_xaxes(visible=False, range=[-0.5, width_px - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, range=[height_px - 0.5, -0.5], scaleanchor="x", constrain="domain")
    return fig


def picture_spec(
    image: np.ndarray,
    phrases: list[Phrase],
    selected: int | None = None,
    region_boxes: np.ndarray | None = None,
    ablated: np.ndarray | None = None,
    target: int | None = None,
    height: int = 420,
    font_px: int = 11,
    clickable: list[int] | None = None,
    drag: bool = False,
) -> dict:
    """What ``image_figure`` draws, as plain data for the app's own picture (an SVG that updates
    its outlines in place; a changed plotly chart is a new chart to the browser, drawn anew).

    ``clickable``: the regions a click selects (the app returns the clicked one); ``drag``: a
    rectangle dragged on the picture comes back as a box (the app turns it into a gold box).
    """
    height_px, width_px = image.shape[:2]
    return dict(src=png_data_uri(image), width=width_px, height=height_px, display_height=int(height),
                font_px=int(font_px), outlines=_outlines(phrases, selected, region_boxes, ablated, target),
                badge=_target_badge(region_boxes, target), badge_colour=MARK_COLOUR,
                clickable=[int(r) for r in clickable or []], drag=bool(drag))


def detections_figure(image: np.ndarray, boxes: np.ndarray, labels: list[str], chosen: int | None = None,
                      height: int = 420) -> go.Figure:
    """A detector's regions on the image, each numbered at its centre; clicking a number selects
    that region (its point carries the region index), and the ``chosen`` one is drawn in colour."""
    fig = image_figure(image, [], region_boxes=boxes, height=height)
    boxes = np.asarray(boxes, dtype=float)
    centre_x, centre_y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    fig.add_trace(go.Scatter(
        x=centre_x, y=centre_y, mode="markers+text", text=[str(i + 1) for i in range(len(boxes))],
        customdata=np.arange(len(boxes)), hovertext=labels, hoverinfo="text", name="regions",
        marker=dict(size=16, color="rgba(255, 255, 255, 0.75)", line=dict(color="#555", width=1)),
        textfont=dict(size=10, color="#111"), showlegend=False,
    ))  # fmt: skip
    if chosen is not None and 0 <= chosen < len(boxes):
        fig.add_shape(_rect(_outline(boxes[chosen], phrase_colour(0), 3.0, name=f"region {chosen + 1} (the phrase's box)")))
    fig.update_layout(dragmode=False, clickmode="event+select")
    return fig


def thumbnail(example: Example, size: int = 160) -> np.ndarray:
    """A small RGB picture of the example with its gold boxes drawn in the phrase colours
    (without a picture, a canvas made at the thumbnail's size: any claimed size is cheap)."""
    image = example_picture(example)
    width, height = example.image_size if image is None else (image.shape[1], image.shape[0])
    scale = size / max(width, height)
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if image is None:
        small = np.full((small_size[1], small_size[0], 3), 200, dtype=np.uint8)
    else:
        small = np.ascontiguousarray(cv2.resize(image, small_size,
                                                interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR))
    for index, phrase in enumerate(example.phrases):
        h = phrase_colour(index).lstrip("#")
        colour = tuple(int(h[i : i + 2], 16) for i in (0, 2, 4))
        for x1, y1, x2, y2 in phrase.boxes * scale:
            cv2.rectangle(small, (int(x1), int(y1)), (int(x2), int(y2)), colour, 2)
    return small
