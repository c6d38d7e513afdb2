"""Each part of the page draws inside ``guarded``, so that one failure does not take the page.

Bad input (the library's ``InputError``, any ``ValueError``) is shown in place, as text, and
the rest of the page still draws; anything else is a bug in vlexplore: an "internal error"
message asking to report it, with its traceback logged (``vlexplore.errors``), never a
traceback on the page. Streamlit's own rerun and stop signals are not exceptions and pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import streamlit as st

from ...errors import internal_error_message, log_internal_error
from ..text import literal


@contextlib.contextmanager
def guarded(part: str) -> Iterator[None]:
    try:
        yield
    except ValueError as error:  # InputError is one: the user's file, option or click
        st.error(literal(error))
    except Exception as error:
        st.error(literal(internal_error_message(error, log_internal_error(f"app: {part}"))),
                 icon=":material/bug_report:")
