"""Writes the crash and blow-up inputs of issue 14 as files (run once; the files are committed).

Each file name says which reader it goes to (``tsv_``, ``lmdb_`` folders, ``pickle_``
records, ``xml_``, ``sentences_``, ``split_``) and what it broke before the fix;
tests/test_regressions.py feeds every file to its reader and expects an ``InputError``.
"""

from __future__ import annotations

import pickle
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from tests.flickr_fixture import tsv_row  # noqa: E402


def _lmdb(folder: Path, rows: dict[bytes, bytes]) -> Path:
    import lmdb

    shutil.rmtree(folder, ignore_errors=True)
    env = lmdb.open(str(folder), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for key, value in rows.items():
            txn.put(key, value)
    env.close()
    (folder / "lock.mdb").unlink(missing_ok=True)
    return folder / "data.mdb"


def main() -> None:
    small = dict(zip(
        ["img_id", "img_h", "img_w", "objects_id", "objects_conf", "attrs_id", "attrs_conf",
         "num_boxes", "boxes", "features", "cls_prob", "attrs", "classes"],
        tsv_row("1000", 13, dim=8).split("\t"), strict=True,
    ))  # fmt: skip
    rows = {b"1000": pickle.dumps(small), b"keys": pickle.dumps([b"1000"])}
    # SIGBUS: the file cut to its first 3 pages (the meta pages still claim more)
    data = _lmdb(HERE / "lmdb_truncated", rows)
    data.write_bytes(data.read_bytes()[: 3 * 4096])
    # SIGBUS: a leaf node claiming a 1 GB value on its overflow pages
    data = _lmdb(HERE / "lmdb_overflow_size", rows)
    raw = bytearray(data.read_bytes())
    for page in range(2, len(raw) // 4096):
        stored, flags = struct.unpack_from("<QxxH", raw, page * 4096)
        if stored == page and flags & 0x02:  # a leaf page: make its first big value claim 1 GB
            lower = struct.unpack_from("<H", raw, page * 4096 + 12)[0]
            for slot in range((lower - 16) // 2):
                offset = page * 4096 + struct.unpack_from("<H", raw, page * 4096 + 16 + 2 * slot)[0]
                if struct.unpack_from("<H", raw, offset + 4)[0] & 0x01:
                    struct.pack_into("<HH", raw, offset, 0, 0x4000)
    data.write_bytes(bytes(raw))
    # memory: 13-byte records that made the restricted unpickler allocate gigabytes
    (HERE / "pickle_long_binput.bin").write_bytes(b"\x80\x04N" + b"r" + struct.pack("<I", 300_000_000) + b".")
    (HERE / "pickle_bytearray_2e9.bin").write_bytes(
        b"\x80\x04\x8c\x08builtins\x8c\tbytearray\x93J\x00\x94\x35\x77\x85R."
    )
    # TypeError: an object array as a field
    (HERE / "pickle_object_array.bin").write_bytes(
        pickle.dumps({**small, "features": np.array([None, "x"], dtype=object)})
    )
    # KeyError 'features': a row without features
    (HERE / "pickle_no_features.bin").write_bytes(
        pickle.dumps({k: v for k, v in small.items() if k != "features"})
    )
    # OverflowError: 1e400 as a size, in a TSV and in an annotation
    line = tsv_row("1000", 6, dim=8).split("\t")
    line[1] = "1e400"
    (HERE / "tsv_overflow.tsv").write_text("\t".join(line) + "\n")
    # csv.Error: a bare carriage return inside a line
    line = tsv_row("1000", 6, dim=8).split("\t")
    line[4] = line[4][:8] + "\r" + line[4][8:]
    (HERE / "tsv_bare_cr.tsv").write_bytes(("\t".join(line) + "\n").encode())
    (HERE / "xml_overflow.xml").write_text(
        "<annotation><size><width>1e400</width><height>80</height></size></annotation>"
    )
    (HERE / "xml_box_outside.xml").write_text(
        "<annotation><size><width>120</width><height>80</height></size><object><name>1</name>"
        "<bndbox><xmin>500</xmin><ymin>300</ymin><xmax>600</xmax><ymax>400</ymax></bndbox>"
        "</object></annotation>"
    )
    (HERE / "xml_huge_canvas.xml").write_text(
        "<annotation><size><width>30000</width><height>30000</height></size></annotation>"
    )
    (HERE / "sentences_nested.txt").write_text("[/EN#1/people A [/EN#2/clothing man] sits] .\n")
    (HERE / "sentences_stray_bracket.txt").write_text("[/EN#1/people A man] sits] .\n")
    (HERE / "split_latin1.txt").write_bytes("1000\ncaf\xe9\n".encode("latin-1"))
    (HERE / "split_empty.txt").write_text("\n\n")


if __name__ == "__main__":
    main()
