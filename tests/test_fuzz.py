"""Mutation fuzzing of every reader: whatever the bytes, a reader returns records or raises
``InputError`` (a clear message), never another exception, a crash or a hang.

Seeds are small valid files of each format; hypothesis flips, overwrites, inserts, deletes
and truncates their bytes. ``make test`` runs ``FUZZ_EXAMPLES`` (default 60) cases per
reader; ``make fuzz`` runs 10,000 per reader (see README, "Fuzzing").
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.flickr_fixture import IMAGES, region_arrays, tsv_row, write_entities
from vlexplore.data.features import read_features
from vlexplore.data.flickr30k import read_annotation, read_sentences, read_split
from vlexplore.data.pickled_rows import load_row
from vlexplore.errors import InputError
from vlexplore.images import load_image

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a shared CI core stalls; hangs show up as the run's wall time instead
    database=None,  # no .hypothesis folder in the checkout
    derandomize=EXAMPLES <= 100,  # `make test` is reproducible; `make fuzz` explores
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, ord("\t"), ord("\n"), ord("\r"), ord("]"), ord("["), ord("<"), ord("e")]


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """``seed`` after 1-8 random byte-level edits."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "repeat"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from(INTERESTING) | st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16) | st.sampled_from([b"1e400", b"nan", b"-1", b"\r"]))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "repeat":
            size = draw(st.integers(1, 4096))
            data[at:at] = data[at : at + size]
    return bytes(data)


#: reader -> {"read": n, "InputError": n}; written to $FUZZ_REPORT (JSON) after the run
OUTCOMES: dict[str, Counter] = {}


def _only_input_errors(read, reader: str) -> None:
    outcome = "read"
    try:
        read()
    except InputError:
        outcome = "InputError"
    OUTCOMES.setdefault(reader, Counter())[outcome] += 1


@pytest.fixture(scope="module", autouse=True)
def report_outcomes():
    yield
    if os.environ.get("FUZZ_REPORT"):
        Path(os.environ["FUZZ_REPORT"]).write_text(json.dumps(OUTCOMES, indent=1) + "\n")


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("seeds")
    entities = write_entities(root / "entities")
    lmdb = pytest.importorskip("lmdb")
    names = ["img_id", "img_h", "img_w", "objects_id", "objects_conf", "attrs_id", "attrs_conf",
             "num_boxes", "boxes", "features", "cls_prob", "attrs", "classes"]  # fmt: skip
    env = lmdb.open(str(root / "db"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        row = dict(zip(names, tsv_row("1000", 13, dim=8).split("\t"), strict=True))
        txn.put(b"1000", pickle.dumps(row))
        arrays = {"img_id": "2000", "img_w": 100, "img_h": 100, "num_boxes": np.int64(2),
                  "boxes": np.array([[0, 0, 9, 9], [5, 5, 50, 60]], np.float32),
                  "features": np.ones((2, 8), np.float32)}  # fmt: skip
        txn.put(b"2000", pickle.dumps(arrays, protocol=5))
        txn.put(b"keys", pickle.dumps([b"1000", b"2000"]))
    env.close()
    image = io.BytesIO()
    Image.fromarray(np.arange(16 * 12 * 3, dtype=np.uint8).reshape(12, 16, 3)).save(image, "PNG")
    jpeg = io.BytesIO()
    Image.fromarray(np.full((12, 16, 3), 90, np.uint8)).save(jpeg, "JPEG")
    return {
        "tsv": "\n".join([tsv_row("1000", 6, dim=8), tsv_row("2000", 13, dim=8)]).encode() + b"\n",
        "lmdb": (root / "db" / "data.mdb").read_bytes(),
        "pickle": pickle.dumps(arrays, protocol=5),
        "sentences": (entities / "Sentences" / "1000.txt").read_bytes(),
        "xml": (entities / "Annotations" / "1000.xml").read_bytes(),
        "split": "\n".join(IMAGES).encode() + b"\n",
        "npz": _npz_bytes(),
        "png": image.getvalue(),
        "jpeg": jpeg.getvalue(),
    }


def _npz_bytes() -> bytes:
    buffer = io.BytesIO()
    arrays = region_arrays("2000", dim=8)
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _case(tmp_path_factory, name: str) -> Path:
    folder = tmp_path_factory.getbasetemp() / f"fuzz-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


@FUZZ
@given(data=st.data())
def test_tsv_reader(seeds, tmp_path_factory, data):
    path = _case(tmp_path_factory, "tsv") / "f.tsv"
    path.write_bytes(data.draw(mutated(seeds["tsv"])))
    _only_input_errors(lambda: [f.to_regions() for f in read_features(path, ["1000", "2000"], None).values()], "tsv")


@FUZZ
@given(data=st.data())
def test_lmdb_reader(seeds, tmp_path_factory, data):
    folder = _case(tmp_path_factory, "lmdb")
    (folder / "data.mdb").write_bytes(data.draw(mutated(seeds["lmdb"])))
    _only_input_errors(lambda: [f.to_regions() for f in read_features(folder, None, None).values()], "lmdb")


@FUZZ
@given(data=st.data())
def test_npz_reader(seeds, tmp_path_factory, data):
    folder = _case(tmp_path_factory, "npz")
    (folder / "2000.npz").write_bytes(data.draw(mutated(seeds["npz"])))
    _only_input_errors(lambda: [f.to_regions() for f in read_features(folder, ["2000"], None).values()], "npz")


@FUZZ
@given(data=st.data())
def test_pickled_row_reader(seeds, data):
    row = data.draw(mutated(seeds["pickle"]))
    _only_input_errors(lambda: load_row(row), "pickled row")


@FUZZ
@given(data=st.data())
def test_flickr30k_sentence_and_annotation_readers(seeds, tmp_path_factory, data):
    folder = _case(tmp_path_factory, "flickr")
    (folder / "s.txt").write_bytes(data.draw(mutated(seeds["sentences"])))
    (folder / "a.xml").write_bytes(data.draw(mutated(seeds["xml"])))
    (folder / "val.txt").write_bytes(data.draw(mutated(seeds["split"])))
    _only_input_errors(lambda: read_sentences(folder / "s.txt"), "flickr30k sentences")
    _only_input_errors(lambda: read_annotation(folder / "a.xml"), "flickr30k annotation")
    _only_input_errors(lambda: read_split(folder, "val"), "flickr30k split")


@FUZZ
@given(data=st.data(), kind=st.sampled_from(["png", "jpeg"]))
def test_image_reader(seeds, data, kind):
    image = data.draw(mutated(seeds[kind]))
    _only_input_errors(lambda: load_image(image), "image")


@FUZZ
@given(pieces=st.lists(st.sampled_from(["[/EN#", "1", "/people", " ", "]", "a", "b", "[", "#", "/"]), max_size=30))
def test_phrase_markup_parser(pieces, tmp_path_factory):
    path = _case(tmp_path_factory, "markup") / "s.txt"
    path.write_text("".join(pieces) + "\n")
    _only_input_errors(lambda: read_sentences(path), "phrase markup")
