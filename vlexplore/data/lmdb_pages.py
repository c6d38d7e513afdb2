"""Read-only lookups in an LMDB file (VOLTA's ``flickr30k_feat.lmdb``), in plain Python.

Why not the ``lmdb`` package: liblmdb maps the file and follows the page numbers and sizes
it finds there without checking them against the file's length, so a truncated or
corrupted ``data.mdb`` kills the whole process with SIGBUS (no exception to catch; in the
app, the server dies for every user). Checking the file size against the meta pages
before opening is not enough: a corrupted node can still claim a value that runs past the
end. This reader reads pages with ``os.pread`` and checks every number it follows (meta
pages, page numbers, page headers, node offsets, value sizes) against the file, so any
damage is an ``InputError`` naming the file, never a crash. It does only what the
features need: get the value of a key in the main database, B-tree depth-bounded.

Layout (liblmdb 0.9, 64-bit little-endian, the format ``lmdb.open`` writes): pages 0 and
1 are meta pages (the one with the larger transaction id is current); a page starts with
a 16-byte header (page number, flags, lower/upper bounds or overflow page count), then
16-bit offsets of its nodes; a node is ``lo, hi, flags, key size`` (16 bits each), the
key, then the value (leaf) or a child page number spread over ``lo, hi, flags`` (branch).
Values larger than a page live on overflow pages (node flag ``F_BIGDATA``).
May import: errors.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from ..errors import InputError

__all__ = ["LmdbFile"]

MAGIC = 0xBEEFC0DE
PAGE_HEADER = 16
NODE_HEADER = 8
P_BRANCH, P_LEAF, P_OVERFLOW, P_META, P_LEAF2 = 0x01, 0x02, 0x04, 0x08, 0x20
F_BIGDATA, F_SUBDATA, F_DUPDATA = 0x01, 0x02, 0x04
DUPSORT = 0x04
NO_PAGE = 0xFFFFFFFFFFFFFFFF
MAX_DEPTH = 32


class LmdbFile:
    """An LMDB ``data.mdb`` opened for ``get``; ``path`` is the file or the folder holding it."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        self.path = path / "data.mdb" if path.is_dir() else path
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except OSError as error:
            raise InputError(f"{self.path}: cannot open the LMDB file ({error.strerror})") from None
        try:
            self.size = os.fstat(self._fd).st_size
            self._read_meta()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> LmdbFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _error(self, message: str) -> InputError:
        return InputError(
            f"{self.path}: {message}; the LMDB file is truncated or corrupted (copy it again, "
            "or convert the features to a TSV or .npz folder)"
        )

    def _pread(self, offset: int, size: int) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.size:
            raise self._error(f"bytes {offset}..{offset + size} lie past the end of the {self.size}-byte file")
        data = os.pread(self._fd, size, offset)
        if len(data) != size:
            raise self._error(f"the file shrank while reading at byte {offset}")
        return data

    def _read_meta(self) -> None:
        if self.size < 2 * 512:
            raise self._error(f"only {self.size} bytes, smaller than the two LMDB meta pages")
        first = self._pread(0, 152)
        magic, version = struct.unpack_from("<II", first, PAGE_HEADER)
        if magic != MAGIC:
            raise InputError(f"{self.path} is not an LMDB file (no LMDB magic number at its start)")
        if version != 1:
            raise self._error(f"LMDB format version {version} is not the supported version 1")
        page_size = struct.unpack_from("<I", first, 40)[0]
        if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
            raise self._error(f"the meta page gives a page size of {page_size}")
        self.page_size = page_size
        if self.size < 2 * page_size:
            raise self._error(f"only {self.size} bytes, smaller than two {page_size}-byte meta pages")
        metas = []
        for number in (0, 1):
            page = self._pread(number * page_size, 152)
            magic, version = struct.unpack_from("<II", page, PAGE_HEADER)
            flags = struct.unpack_from("<H", page, 10)[0]
            if magic != MAGIC or version != 1 or not flags & P_META:
                continue
            main_flags, depth = struct.unpack_from("<HH", page, 92)
            root = struct.unpack_from("<Q", page, 128)[0]
            last_page, txn = struct.unpack_from("<QQ", page, 136)
            metas.append((txn, last_page, root, depth, main_flags))
        if not metas:
            raise self._error("neither meta page is valid")
        _, last_page, root, depth, main_flags = max(metas)
        pages = last_page + 1
        if pages * page_size > self.size:
            raise self._error(
                f"its header says it holds {pages} pages of {page_size} bytes "
                f"({pages * page_size} bytes) but the file has {self.size}"
            )
        if main_flags & DUPSORT:
            raise self._error("the main database has duplicate keys, which feature stores do not use")
        if root != NO_PAGE and not 2 <= root < pages:
            raise self._error(f"the root page {root} is outside the file's {pages} pages")
        if depth > MAX_DEPTH:
            raise self._error(f"the B-tree claims a depth of {depth}")
        self.pages, self.root = pages, root

    def _page(self, number: int) -> tuple[bytes, int]:
        """A page's bytes and flags, checked to be the page it says it is."""
        if not 2 <= number < self.pages:
            raise self._error(f"a node points at page {number}, outside pages 2..{self.pages - 1}")
        page = self._pread(number * self.page_size, self.page_size)
        stored, flags = struct.unpack_from("<QxxH", page, 0)
        if stored != number:
            raise self._error(f"page {number} says it is page {stored}")
        return page, flags

    def _nodes(self, page: bytes, number: int) -> list[tuple[int, int, bytes, int]]:
        """(lo|hi, flags, key, offset of the data) of every node of a branch or leaf page."""
        lower, upper = struct.unpack_from("<HH", page, 12)
        if lower < PAGE_HEADER or lower > upper or upper > self.page_size or (lower - PAGE_HEADER) % 2:
            raise self._error(f"page {number} has bounds {lower}..{upper}")
        count = (lower - PAGE_HEADER) // 2
        nodes = []
        for offset in struct.unpack_from(f"<{count}H", page, PAGE_HEADER):
            if offset < upper or offset + NODE_HEADER > self.page_size:
                raise self._error(f"page {number} has a node at offset {offset}")
            lo, hi, flags, key_size = struct.unpack_from("<HHHH", page, offset)
            key_end = offset + NODE_HEADER + key_size
            if key_end > self.page_size:
                raise self._error(f"page {number} has a key running past the page")
            nodes.append((lo | hi << 16, flags, page[offset + NODE_HEADER : key_end], key_end))
        return nodes

    def get(self, key: bytes) -> bytes | None:
        """The value stored under ``key``, or None when the key is absent."""
        number = self.root
        if number == NO_PAGE:
            return None
        for _ in range(MAX_DEPTH):
            page, flags = self._page(number)
            nodes = self._nodes(page, number)
            if flags & P_LEAF2 or not flags & (P_BRANCH | P_LEAF):
                raise self._error(f"page {number} is neither a branch nor a leaf page (flags {flags:#x})")
            if flags & P_BRANCH:
                if not nodes:
                    raise self._error(f"branch page {number} is empty")
                child = _last_at_most(nodes, key)  # node 0's key is the implicit lowest
                size_bits, node_flags, _, _ = nodes[child]
                number = size_bits | node_flags << 32
                continue
            for size, node_flags, node_key, data_at in nodes:
                if node_key == key:
                    return self._value(page, number, size, node_flags, data_at)
            return None
        raise self._error(f"the B-tree is deeper than {MAX_DEPTH} levels (a cycle?)")

    def _value(self, page: bytes, number: int, size: int, flags: int, data_at: int) -> bytes:
        if flags & (F_SUBDATA | F_DUPDATA):
            raise self._error(f"the value on page {number} is a sub-database, not a record")
        if not flags & F_BIGDATA:
            if data_at + size > self.page_size:
                raise self._error(f"a value on page {number} runs past the page")
            return page[data_at : data_at + size]
        if data_at + 8 > self.page_size:
            raise self._error(f"an overflow pointer on page {number} runs past the page")
        overflow = struct.unpack_from("<Q", page, data_at)[0]
        header, flags = self._page(overflow)
        count = struct.unpack_from("<I", header, 12)[0]
        if not flags & P_OVERFLOW or overflow + count > self.pages:
            raise self._error(f"overflow page {overflow} is not a valid run of {count} pages")
        if PAGE_HEADER + size > count * self.page_size:
            raise self._error(f"a {size}-byte value does not fit its {count} overflow pages")
        return self._pread(overflow * self.page_size + PAGE_HEADER, size)


def _last_at_most(nodes: list, key: bytes) -> int:
    """Index of the last branch node whose key is <= ``key`` (node 0 counts as -infinity)."""
    low, high = 1, len(nodes) - 1
    found = 0
    while low <= high:
        middle = (low + high) // 2
        if nodes[middle][2] <= key:
            found, low = middle, middle + 1
        else:
            high = middle - 1
    return found
