"""Where each image token of a generative VLM looks, in original-image pixels.

Every supported processor turns one picture into one or more *views* (LLaVA: one
centre-cropped square; Qwen2-VL: the whole image at a multiple of 28 px; Idefics3 /
SmolVLM: a grid of tiles in row-major order followed by a downscaled global view). Each
view is an axis-aligned rectangle of the original image (possibly reaching past its border,
where the processor padded) cut into a grid of equal cells, one image token per cell after
the pixel shuffle / 2x2 merge. An ``ImageLayout`` lists those cells in the order the model's
image features come in, so "which tokens does this box cover" is plain box arithmetic.

Boxes use the project's inclusive-pixel convention (``vlexplore.geometry``): a cell spanning
the continuous interval [x0, x1) has the box (x0, y0, x1 - 1, y1 - 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import geometry
from ...geometry import intersection
from ...records import as_boxes

__all__ = ["ImageView", "ImageLayout", "grid_view", "join_views", "tokens_under_boxes"]


@dataclass(frozen=True)
class ImageView:
    """One view of the picture the model sees: a tile, the global view, or the whole image."""

    name: str  # "image", "global", "tile r1 c2" (1-based row, column)
    rows: int  # token grid of this view
    columns: int
    frame: tuple[float, float, float, float]  # continuous [x0, y0, x1, y1) in original pixels
    row_end_tokens: int = 0  # tokens after each row that show nothing (LLaVA-OneVision's newline)
    #: explicit [x0, x1) of each column and [y0, y1) of each row, for grids whose cells are not
    #: equal parts of ``frame`` (patches that skip the last pixels of each crop); None: equal parts
    column_spans: tuple[tuple[float, float], ...] | None = None
    row_spans: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True)
class ImageLayout:
    """The cell of every image token, in the order of the model's image features.

    ``cells`` are inclusive pixel boxes clipped to the image; ``visible`` is False for tokens
    that show no part of the picture (a cell wholly in the processor's padding, a CLS token,
    a learned row-end token): they are never ablated and never drawn.
    """

    image_size: tuple[int, int]  # original (width, height)
    views: tuple[ImageView, ...]
    cells: np.ndarray  # (P, 4) float
    view_of: np.ndarray  # (P,) int, index into views; -1 for tokens outside any grid
    grid_position: np.ndarray  # (P, 2) int, (row, column) in the view; -1 outside any grid
    visible: np.ndarray  # (P,) bool

    def __len__(self) -> int:
        return len(self.cells)

    def view_names(self) -> list[str]:
        """Per token, the name of the view it belongs to ("" for tokens outside any grid)."""
        return [self.views[v].name if v >= 0 else "" for v in self.view_of.tolist()]


def grid_view(
    view: ImageView, image_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(cells, grid positions, visible, in_grid) of one view's tokens, row-major, clipped to
    the image; ``row_end_tokens`` tokens follow each row (in_grid False)."""
    width, height = image_size
    x0, y0, x1, y1 = view.frame
    columns = np.asarray(view.column_spans) if view.column_spans else _equal_spans(x0, x1, view.columns)
    rows = np.asarray(view.row_spans) if view.row_spans else _equal_spans(y0, y1, view.rows)
    row, column = np.meshgrid(np.arange(view.rows), np.arange(view.columns), indexing="ij")
    row, column = row.ravel(), column.ravel()
    left, right = np.clip(columns[column, 0], 0, width), np.clip(columns[column, 1], 0, width)
    top, bottom = np.clip(rows[row, 0], 0, height), np.clip(rows[row, 1], 0, height)
    # a cell shows the picture when at least a tenth of a pixel of it lies inside
    visible = (right - left > 0.1) & (bottom - top > 0.1)
    cells = np.stack([left, top, np.maximum(right - 1, left), np.maximum(bottom - 1, top)], axis=1)
    positions = np.stack([row, column], axis=1)
    in_grid = np.ones(len(cells), dtype=bool)
    if view.row_end_tokens:
        extra = view.row_end_tokens

        def per_row(values, filler):
            values = values.reshape(view.rows, view.columns, *values.shape[1:])
            fill = np.full((view.rows, extra, *values.shape[2:]), filler, dtype=values.dtype)
            return np.concatenate([values, fill], axis=1).reshape(-1, *values.shape[2:])

        cells, positions = per_row(cells, 0.0), per_row(positions, -1)
        visible, in_grid = per_row(visible, False), per_row(in_grid, False)
    return cells, positions, visible, in_grid


def _equal_spans(start: float, end: float, count: int) -> np.ndarray:
    edges = np.linspace(start, end, count + 1)
    return np.stack([edges[:-1], edges[1:]], axis=1)


def join_views(
    image_size: tuple[int, int], views: list[ImageView], extra_before: int = 0
) -> ImageLayout:
    """A layout of ``views`` in order; ``extra_before`` non-cell tokens (CLS) come first."""
    size = (int(image_size[0]), int(image_size[1]))
    cells = [np.zeros((extra_before, 4))]
    positions = [np.full((extra_before, 2), -1)]
    visible = [np.zeros(extra_before, dtype=bool)]
    view_of = [np.full(extra_before, -1)]
    for index, view in enumerate(views):
        c, p, v, in_grid = grid_view(view, size)
        cells.append(c)
        positions.append(p)
        visible.append(v)
        view_of.append(np.where(in_grid, index, -1))
    return ImageLayout(
        image_size=size,
        views=tuple(views),
        cells=np.concatenate(cells).astype(np.float64),
        view_of=np.concatenate(view_of).astype(np.int64),
        grid_position=np.concatenate(positions).astype(np.int64),
        visible=np.concatenate(visible),
    )


def tokens_under_boxes(
    layout: ImageLayout, boxes, min_coverage: float = 0.5, border: int = 0
) -> np.ndarray:
    """(P,) bool: the image tokens a set of pixel boxes covers, decided view by view.

    ViLT's rule (``vlexplore.geometry.patches_under_boxes``) applied in every view on its
    own: a cell counts when a box covers at least ``min_coverage`` of it, and a box that
    shows in a view but covers no cell that much still claims the one cell holding most of
    it, in that view (so a small object is removed from its tile *and* from the global view).
    ``border`` then adds that many rings of neighbouring cells, within the same view.
    Tokens that show nothing of the picture (padding, CLS) are never marked.
    """
    gold = as_boxes(boxes, "boxes")
    mask = np.zeros(len(layout), dtype=bool)
    for index in range(len(layout.views)):
        members = np.flatnonzero((layout.view_of == index) & layout.visible)
        if len(members) == 0 or len(gold) == 0:
            continue
        cells = layout.cells[members]
        shown = gold[intersection(cells, gold).max(axis=0) > 0]  # the boxes this view shows
        if len(shown):
            mask[members] = geometry.patches_under_boxes(cells, shown, min_coverage)
    return geometry.grow_patches(mask, layout.grid_position, border, groups=layout.view_of)
