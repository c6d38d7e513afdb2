"""A strict, bounded reader for the pickled rows of VOLTA's feature LMDB.

VOLTA stores each image as ``pickle.dumps(row)``: a dict from field names to base64
strings (as read from the bottom-up-attention TSV), ints or numpy arrays, plus a
``keys`` entry holding a list of image ids. We cannot change how those files were
written, but we need not run the pickle machine on them: ``pickle.Unpickler`` (even with
``find_class`` restricted) executes opcodes that allocate whatever a 13-byte record asks
for (``LONG_BINPUT 300000000`` grows the memo list to gigabytes, ``bytearray(2e9)`` is a
whitelisted call). So rows are decoded here by a small interpreter of the pickle opcodes
that such rows use, and nothing else:

- only data opcodes (containers, strings, bytes, numbers, memo) and ``REDUCE``/``BUILD``
  of exactly these callables: ``numpy`` array reconstruction (``_reconstruct`` + ``BUILD``
  state, or protocol 5 ``_frombuffer``), ``numpy.dtype`` of a plain numeric type,
  numpy scalars, ``_codecs.encode(str, "latin1")`` (protocol 2 bytes), ``bytes``/
  ``bytearray`` of bytes and an empty ``OrderedDict``;
- every object it builds holds bytes taken from the input (an array's shape must match
  its data exactly, a memo is a dict keyed by index), so memory stays O(len(data)) and
  one pass over the opcodes decides the result: no recursion, no code, no blow-up.

Anything else is an ``InputError`` naming the entry and the offending opcode.
May import: errors.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

import numpy as np

from ..errors import InputError

__all__ = ["load_row"]

_MARK = object()
_NUMERIC_DTYPE = re.compile(r"^[<>|=]?(b1|[iu][1248]|f[248]|c(8|16)|\?)$")
_MAX_NDIM = 8
_FIXED = {  # opcode -> (struct format, size) of its argument
    b"K": ("<B", 1), b"M": ("<H", 2), b"J": ("<i", 4), b"G": (">d", 8),
    b"q": ("<B", 1), b"r": ("<I", 4), b"h": ("<B", 1), b"j": ("<I", 4),
    b"\x80": ("<B", 1), b"\x95": ("<Q", 8),
}  # fmt: skip
_SIZED = {  # opcode -> (length format, length size, kind) of length-prefixed data
    b"\x8c": ("<B", 1, "str"), b"X": ("<I", 4, "str"), b"\x8d": ("<Q", 8, "str"),
    b"C": ("<B", 1, "bytes"), b"B": ("<I", 4, "bytes"), b"\x8e": ("<Q", 8, "bytes"),
    b"\x96": ("<Q", 8, "bytearray"), b"\x8a": ("<B", 1, "long"), b"\x8b": ("<i", 4, "long"),
}  # fmt: skip


class _Callable:
    """A whitelisted global; REDUCE calls ``build`` with the checked arguments."""

    def __init__(self, name: str, build: Callable) -> None:
        self.name, self.build = name, build


class _PendingArray:
    """``numpy.core.multiarray._reconstruct(...)``: an array waiting for its BUILD state."""


def _bad(message: str) -> InputError:
    return InputError(message)


def _dtype(args) -> np.dtype:
    if not (isinstance(args, tuple) and args and isinstance(args[0], str)):
        raise _bad(f"numpy.dtype{args!r:.60} is not a plain numeric type")
    if not _NUMERIC_DTYPE.match(args[0]):
        raise _bad(f"numpy dtype {args[0]!r:.30} is not a plain numeric type (object arrays are refused)")
    return np.dtype(args[0])


def _dtype_state(dtype: np.dtype, state) -> np.dtype:
    if not isinstance(state, tuple) or len(state) < 2 or state[1] not in ("<", ">", "|", "="):
        raise _bad("a numpy dtype has an unexpected pickled state")
    return dtype.newbyteorder(state[1]) if state[1] in "<>" else dtype


def _shape(shape) -> tuple[int, ...]:
    if not isinstance(shape, tuple) or len(shape) > _MAX_NDIM:
        raise _bad(f"an array shape {shape!r:.60} is not a tuple of at most {_MAX_NDIM} sizes")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise _bad(f"an array shape {shape!r:.60} holds something other than sizes")
    return shape


def _array(raw, dtype, shape, fortran: bool) -> np.ndarray:
    if not isinstance(dtype, np.dtype):
        raise _bad("an array's dtype is not a numpy dtype")
    if not isinstance(raw, bytes | bytearray):
        raise _bad("an array's data is not bytes (object arrays are refused)")
    shape = _shape(shape)
    count = 1
    for n in shape:
        count *= n  # Python ints: no overflow
    if count * dtype.itemsize != len(raw):
        raise _bad(
            f"an array of shape {shape} and dtype {dtype} needs {count * dtype.itemsize} bytes "
            f"but holds {len(raw)}"
        )
    return np.frombuffer(bytes(raw), dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _frombuffer(args) -> np.ndarray:
    if not (isinstance(args, tuple) and len(args) == 4 and args[3] in ("C", "F")):
        raise _bad("numpy _frombuffer has unexpected arguments")
    return _array(args[0], args[1], args[2], args[3] == "F")


def _reconstruct(args) -> _PendingArray:
    if not (isinstance(args, tuple) and len(args) == 3 and isinstance(args[0], _Callable)):
        raise _bad("numpy _reconstruct has unexpected arguments")
    if args[0].name != "ndarray":
        raise _bad(f"numpy _reconstruct of {args[0].name} is refused")
    return _PendingArray()


def _scalar(args):
    if not (isinstance(args, tuple) and len(args) == 2 and isinstance(args[1], bytes | bytearray)):
        raise _bad("a numpy scalar has unexpected arguments")
    return _array(args[1], args[0], (), False)[()]


def _codecs_encode(args) -> bytes:
    if not (isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], str)):
        raise _bad("_codecs.encode has unexpected arguments")
    if args[1] not in ("latin1", "latin-1"):
        raise _bad(f"_codecs.encode with encoding {args[1]!r:.20} is refused")
    return args[0].encode("latin1")


def _bytes_of(kind: type) -> Callable:
    def build(args):
        if args == ():
            return kind()
        if len(args) == 1 and isinstance(args[0], bytes | bytearray):
            return kind(args[0])
        if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
            return kind(args[0].encode("latin1"))
        raise _bad(f"{kind.__name__}() with other than bytes is refused (it could allocate any size)")

    return build


def _empty(kind: type) -> Callable:
    def build(args):
        if args != ():
            raise _bad(f"{kind.__name__}() with arguments is refused")
        return {}

    return build


_GLOBALS: dict[tuple[str, str], Callable | None] = {
    ("_codecs", "encode"): _codecs_encode,
    ("builtins", "bytes"): _bytes_of(bytes),
    ("builtins", "bytearray"): _bytes_of(bytearray),
    ("collections", "OrderedDict"): _empty(dict),
    ("numpy", "dtype"): _dtype,
    ("numpy", "ndarray"): None,  # only as _reconstruct's first argument
}
for _core in ("numpy.core", "numpy._core"):
    _GLOBALS[(f"{_core}.multiarray", "_reconstruct")] = _reconstruct
    _GLOBALS[(f"{_core}.multiarray", "scalar")] = _scalar
    _GLOBALS[(f"{_core}.numeric", "_frombuffer")] = _frombuffer


def _global(module: str, name: str) -> _Callable:
    module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)
    if (module, name) not in _GLOBALS:
        raise _bad(
            f"refusing to unpickle {module}.{name}: feature rows may hold only containers, "
            "strings, numbers and numpy arrays"
        )
    build = _GLOBALS[(module, name)]
    return _Callable(name, build or _not_callable(name))


def _not_callable(name: str) -> Callable:
    def build(args):
        raise _bad(f"calling {name} is refused")

    return build


def load_row(data: bytes, where: str = "pickled row"):
    """The object a VOLTA LMDB value pickles, or an ``InputError`` naming ``where``."""
    try:
        return _run(memoryview(bytes(data)), where)
    except InputError as error:
        raise InputError(f"{where}: {error}") from None
    except (struct.error, IndexError, TypeError, ValueError, UnicodeDecodeError, OverflowError) as error:
        raise InputError(
            f"{where}: not a readable pickled row ({type(error).__name__}: {error})"
        ) from None


def _run(data: memoryview, where: str):
    stack: list = []
    marks: list[int] = []
    memo: dict[int, object] = {}
    pos, end = 0, len(data)

    def take(size: int) -> memoryview:
        nonlocal pos
        if size < 0 or pos + size > end:
            raise _bad(f"the pickle is cut short at byte {pos} (wants {size} more bytes)")
        chunk = data[pos : pos + size]
        pos += size
        return chunk

    def pop_mark() -> list:
        if not marks:
            raise _bad("a pickle opcode needs a MARK that is not there")
        start = marks.pop()
        items = stack[start:]
        del stack[start:]
        return items

    def top(kind: type):
        if not stack or not isinstance(stack[-1], kind):
            raise _bad(f"a pickle opcode expects a {kind.__name__} on the stack")
        return stack[-1]

    while True:
        at = pos
        op = bytes(take(1))
        if op in _FIXED:
            fmt, size = _FIXED[op]
            (value,) = struct.unpack(fmt, take(size))
            if op in (b"K", b"M", b"J", b"G"):
                stack.append(value)
            elif op in (b"q", b"r"):
                memo[value] = _peek(stack)
            elif op in (b"h", b"j"):
                if value not in memo:
                    raise _bad(f"pickle memo entry {value} is read before it is written")
                stack.append(memo[value])
            continue  # PROTO and FRAME need nothing
        if op in _SIZED:
            fmt, size, kind = _SIZED[op]
            (length,) = struct.unpack(fmt, take(size))
            raw = bytes(take(length))
            if kind == "str":
                stack.append(raw.decode("utf-8", errors="surrogatepass"))
            elif kind == "bytes":
                stack.append(raw)
            elif kind == "bytearray":
                stack.append(bytearray(raw))
            else:
                if length > 16:
                    raise _bad(f"a pickled integer of {length} bytes is too large")
                stack.append(int.from_bytes(raw, "little", signed=True))
            continue
        if op == b".":  # STOP
            if len(stack) != 1 or marks:
                raise _bad("the pickle ends with an unbalanced stack")
            if pos != end:
                raise _bad(f"{end - pos} bytes follow the end of the pickle")
            return _finish(stack[0])
        if op == b"(":
            marks.append(len(stack))
        elif op == b"}":
            stack.append({})
        elif op == b"]":
            stack.append([])
        elif op == b")":
            stack.append(())
        elif op == b"N":
            stack.append(None)
        elif op in (b"\x88", b"\x89"):
            stack.append(op == b"\x88")
        elif op == b"\x94":  # MEMOIZE
            memo[len(memo)] = _peek(stack)
        elif op in (b"t", b"l", b"d"):  # TUPLE, LIST, DICT (mark-based)
            items = pop_mark()
            if op == b"t":
                stack.append(tuple(items))
            elif op == b"l":
                stack.append(items)
            else:
                stack.append(_pairs({}, items))
        elif op in (b"\x85", b"\x86", b"\x87"):  # TUPLE1..3
            count = op[0] - 0x84
            if len(stack) - (marks[-1] if marks else 0) < count:
                raise _bad("a TUPLE opcode finds too few items")
            items = stack[-count:]
            del stack[-count:]
            stack.append(tuple(items))
        elif op in (b"s", b"u"):  # SETITEM, SETITEMS
            items = [stack.pop(), stack.pop()][::-1] if op == b"s" else pop_mark()
            if op == b"s" and len(stack) < 1:
                raise _bad("SETITEM without a dict")
            _pairs(top(dict), items)
        elif op in (b"a", b"e"):  # APPEND, APPENDS
            items = [stack.pop()] if op == b"a" else pop_mark()
            top(list).extend(items)
        elif op == b"0":
            stack.pop()
        elif op == b"1":
            pop_mark()
        elif op == b"c":  # GLOBAL "module\nname\n"
            module = _line(data, take, end)
            name = _line(data, take, end)
            stack.append(_global(module, name))
        elif op == b"\x93":  # STACK_GLOBAL
            name, module = stack.pop(), stack.pop()
            if not (isinstance(module, str) and isinstance(name, str)):
                raise _bad("STACK_GLOBAL needs two strings")
            stack.append(_global(module, name))
        elif op == b"R":  # REDUCE
            args, function = stack.pop(), stack.pop()
            if not isinstance(function, _Callable) or not isinstance(args, tuple):
                raise _bad("REDUCE calls something that is not a whitelisted function")
            stack.append(function.build(args))
        elif op == b"b":  # BUILD
            state, target = stack.pop(), stack.pop()
            stack.append(_build(target, state))
        else:
            raise _bad(f"pickle opcode {op!r} at byte {at} is not one that feature rows use")
        if len(marks) > end or (marks and marks[-1] > len(stack)):
            raise _bad("the pickle's marks are inconsistent")


def _peek(stack: list):
    if not stack:
        raise _bad("a pickle memo opcode finds an empty stack")
    return stack[-1]


def _line(data: memoryview, take, end: int) -> str:
    chars = []
    while True:
        char = bytes(take(1))
        if char == b"\n":
            return b"".join(chars).decode("ascii")
        chars.append(char)
        if len(chars) > 200:
            raise _bad("a GLOBAL name is longer than 200 characters")


def _pairs(target: dict, items: list) -> dict:
    if len(items) % 2:
        raise _bad("a dict opcode finds an odd number of items")
    for key, value in zip(items[::2], items[1::2], strict=True):
        if not isinstance(key, str | bytes | int):
            raise _bad(f"a dict key is a {type(key).__name__}, expected a string")
        target[key] = value
    return target


def _build(target, state):
    if isinstance(target, np.dtype):
        return _dtype_state(target, state)
    if isinstance(target, _PendingArray):
        if not (isinstance(state, tuple) and len(state) == 5):
            raise _bad("an array's pickled state is not (version, shape, dtype, fortran, data)")
        _, shape, dtype, fortran, raw = state
        return _array(raw, dtype, shape, bool(fortran))
    raise _bad(f"BUILD on a {type(target).__name__} is refused")


def _finish(value):
    """``value`` if it holds only data (no function or half-built array anywhere inside)."""
    pending, seen = [value], set()
    while pending:
        item = pending.pop()
        if isinstance(item, _Callable | _PendingArray):
            raise _bad("the pickle holds a function or an unfinished array, not data")
        if isinstance(item, list | tuple | dict) and id(item) not in seen:
            seen.add(id(item))
            pending.extend(item.values() if isinstance(item, dict) else item)
    return value
