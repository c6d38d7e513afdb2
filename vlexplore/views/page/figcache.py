"""Figures (and other drawings) built once per result and view choice, kept per session.

A condition switch, another token or region, or a rerun that changes nothing about a result
must not rebuild its plotly figures (building one costs 10-50 ms; the page draws six). The
result is compared by identity, never hashed: the cached loaders (``session.get_diagnosis``)
return the same object on every rerun, and the entry holds it, so its id cannot be reused
while the entry lives. The cache is bounded (the least recently used entry goes first).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

import streamlit as st

from ..state import Key
from .session import RecentRuns

T = TypeVar("T")
LIMIT = 48  # figures of a few results under every view choice; one image figure is ~0.1-0.5 MB


def once(name: str, result: object, build: Callable[[], T], *choice: Hashable) -> T:
    """``build()`` the first time this session asks for ``name`` of ``result`` under ``choice``
    (the shown condition, token, region, height ...), the kept value afterwards."""
    cache = st.session_state.get(Key.FIGURES)
    if cache is None:
        cache = st.session_state[Key.FIGURES] = RecentRuns(limit=LIMIT)
    key = (name, id(result), *choice)
    hit = cache.get_recent(key)
    if hit is not None and hit[0] is result:
        return hit[1]
    value = build()
    cache.remember(key, (result, value))
    return value
