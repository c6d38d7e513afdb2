"""The one error type for bad user input, and the numbers check every reader shares.

``InputError`` means "the file, option or click is wrong; the message says what to do".
It subclasses ``ValueError`` so that callers written against the library's older
``ValueError`` contract keep working. The CLI prints it as one line (exit code 2) and the
app shows it in place; any other exception is a bug in vlexplore and is reported as an
internal error with its traceback logged (see ``vlexplore.cli``).
May import: nothing from vlexplore (numpy only); any module may import it.
"""

from __future__ import annotations

import datetime
import math
import os
import traceback
from pathlib import Path

import numpy as np

__all__ = ["InputError", "parse_number", "check_finite", "log_internal_error", "internal_error_message", "one_line"]

#: where an internal error's traceback goes (``VLEXPLORE_LOG`` overrides)
DEFAULT_LOG = Path("~/.cache/vlexplore/internal-errors.log")


class InputError(ValueError):
    """Bad user input (a file, an option, a click); the message names it and says what to do."""


def parse_number(text, where: str, low: float, high: float, integer: bool = True) -> int | float:
    """``text`` (str, bytes or number) as a number in ``[low, high]``, or an ``InputError``.

    Range-checked so that ``1e400`` or ``nan`` in a file is an error naming ``where``,
    never an ``OverflowError`` or a silently infinite size.
    """
    value = text
    try:
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.item()
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bytes | bytearray):
            value = bytes(value).decode("ascii")
        if isinstance(value, str):
            value = value.strip()
            if len(value) > 40:
                raise ValueError
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError
    except (TypeError, ValueError, UnicodeDecodeError):
        shown = repr(text)
        raise InputError(f"{where} is {shown[:60]}, not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise InputError(f"{where} is {value!r}, outside the valid range {low:g}..{high:g}")
    return int(value) if integer else float(value)  # int: truncated, as the formats' writers do


def check_finite(values, what: str) -> None:
    """An ``InputError`` naming ``what`` (and the first bad position) unless every value is finite."""
    array = np.asarray(values)
    if array.dtype.kind not in "fc":
        return
    finite = np.isfinite(array)
    if not finite.all():
        position = tuple(int(i) for i in np.argwhere(~finite)[0])
        value = array[position] if position else array.item()
        raise InputError(
            f"{what} contains {value} at position {list(position)}; the values must be finite "
            "(NaN or infinity would make every score NaN)"
        )


def one_line(message) -> str:
    """``message`` on one line, for the CLI's ``error: ...`` (a loader's message may list its
    findings on indented lines): lines joined by "; ", or by a space after a colon or a stop."""
    parts = [line.strip() for line in str(message).splitlines() if line.strip()]
    joined = parts[0] if parts else ""
    for part in parts[1:]:
        joined += (" " if joined.endswith((":", ".", ";", ",")) else "; ") + part
    return joined


def log_internal_error(context: str) -> Path | None:
    """Append the exception being handled (with ``context``) to the log; its path, or None."""
    from . import __version__

    path = Path(os.environ.get("VLEXPLORE_LOG") or DEFAULT_LOG).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as log:
            stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            log.write(f"--- {stamp} vlexplore {__version__} {context}\n{traceback.format_exc()}\n")
    except OSError:
        return None
    return path


#: where bugs go (README.md, "Reporting a bug"); the project has no public tracker address yet
REPORT_TO = "the issue tracker of the vlexplore repository you got it from (README.md, \"Reporting a bug\")"


def internal_error_message(error: BaseException, log: Path | None) -> str:
    """What a user sees for a bug: not their input's fault, where to report it, what to attach."""
    if log is not None:
        attach = f"attach the log file {log} (on the machine that runs vlexplore; its last entry is this error's traceback)"
    else:
        attach = (f"the traceback could not be written to {os.environ.get('VLEXPLORE_LOG') or DEFAULT_LOG}: "
                  "set VLEXPLORE_LOG to a writable file, repeat what you did, and attach that file")
    return (
        f"internal error: {type(error).__name__}: {error}. This is a bug in vlexplore, not in your "
        f"input: please report it to {REPORT_TO} with this message; {attach}."
    )
