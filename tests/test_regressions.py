"""Issue 14's crash and blow-up inputs (tests/data/regressions/, written by make_regressions.py):
each reaches its reader and comes back as one InputError naming the file, never a crash,
a traceback type or gigabytes of memory."""

from __future__ import annotations

import base64
import pickle
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from tests.flickr_fixture import IMAGES, tsv_row, write_entities, write_lmdb, write_tsv
from vlexplore.data.features import read_features
from vlexplore.data.flickr30k import (
    load_flickr30k,
    parse_sentence,
    read_annotation,
    read_sentences,
    read_split,
)
from vlexplore.data.lmdb_pages import LmdbFile
from vlexplore.data.pickled_rows import load_row
from vlexplore.errors import InputError, check_finite, parse_number
from vlexplore.records import ExampleSet, Regions

REGRESSIONS = Path(__file__).parent / "data" / "regressions"


@pytest.mark.parametrize("name, message", [
    ("lmdb_truncated", r"holds \d+ pages of 4096 bytes .* but the file has 12288"),
    ("lmdb_overflow_size", r"value does not fit its \d+ overflow pages"),
])  # fmt: skip
def test_damaged_lmdb_is_an_error_not_sigbus(name, message):
    # liblmdb (the lmdb package) dies with SIGBUS on both files (exit code 135)
    with pytest.raises(InputError, match=message) as caught:
        read_features(REGRESSIONS / name, ["1000"], feature_dim=None)
    assert str(REGRESSIONS / name / "data.mdb") in str(caught.value)


@pytest.mark.parametrize("name, message", [
    ("pickle_bytearray_2e9.bin", r"bytearray\(\) with other than bytes is refused"),
    ("pickle_object_array.bin", "object arrays are refused"),
])  # fmt: skip
def test_hostile_pickled_rows_are_refused_without_allocating(name, message):
    data = (REGRESSIONS / name).read_bytes()
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=message):
            load_row(data, "entry 1000")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * len(data) + 1_000_000  # was 5 GB for the 9-byte LONG_BINPUT record


def test_memo_index_far_beyond_the_record_costs_nothing(tmp_path):
    data = (REGRESSIONS / "pickle_long_binput.bin").read_bytes()  # None, memoised at 300,000,000
    assert len(data) == 9
    tracemalloc.start()
    try:
        assert load_row(data) is None
        looped = b"\x80\x04]r\x00\xa3\xe1\x11j\x00\xa3\xe1\x11a."  # a list holding itself
        back = load_row(looped)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert back[0] is back and peak < 1_000_000  # pickle.loads takes 2.4 GB for the first
    path = write_lmdb(tmp_path / "f.lmdb", rows={"9": data})
    with pytest.raises(InputError, match=r"f\.lmdb, image 9: the row is a NoneType, expected a dict"):
        read_features(path, ["9"], feature_dim=None)


def test_lmdb_row_without_features_names_the_field(tmp_path):
    path = write_lmdb(tmp_path / "f.lmdb", rows={"9": (REGRESSIONS / "pickle_no_features.bin").read_bytes()})
    with pytest.raises(InputError, match=r"f\.lmdb, image 1000: the row has no features field"):
        read_features(path, ["9"], feature_dim=None)


def test_object_array_in_an_lmdb_row_names_the_image(tmp_path):
    path = write_lmdb(tmp_path / "f.lmdb", rows={"9": (REGRESSIONS / "pickle_object_array.bin").read_bytes()})
    with pytest.raises(InputError, match=r"f\.lmdb, image 9: .*object arrays are refused"):
        read_features(path, ["9"], feature_dim=None)


def test_pickled_rows_of_every_protocol_read_back():
    row = {"img_id": "7", "num_boxes": np.int64(2), "boxes": np.arange(8, dtype=np.float32).reshape(2, 4),
           "f": np.asfortranarray(np.ones((3, 2), ">f8")), "raw": b"\x00\xff", "t": (1, 2.5, None, True)}
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        back = load_row(pickle.dumps(row, protocol=protocol))
        assert back.keys() == row.keys() and back["num_boxes"] == 2 and back["raw"] == b"\x00\xff"
        assert back["t"] == (1, 2.5, None, True)
        for name in ("boxes", "f"):
            assert back[name].dtype == row[name].dtype and np.array_equal(back[name], row[name])


def test_pure_python_lmdb_reads_what_liblmdb_wrote(tmp_path):
    lmdb = pytest.importorskip("lmdb")
    rng = np.random.default_rng(0)
    values = {str(k).encode(): rng.bytes(int(n)) for k, n in zip(
        rng.integers(0, 10**9, 3000), rng.choice([0, 7, 300, 2500, 9000, 70000], 3000), strict=True)}
    env = lmdb.open(str(tmp_path / "db"), map_size=1 << 30)
    with env.begin(write=True) as txn:
        for key, value in values.items():
            txn.put(key, value)
    env.close()
    with LmdbFile(tmp_path / "db") as store:
        assert all(store.get(key) == value for key, value in values.items())
        assert store.get(b"absent") is None and store.get(b"") is None


def read_tsv(path: Path):
    return read_features(path, ["1000"], feature_dim=None)


@pytest.mark.parametrize("read, name, message", [
    (read_tsv, "tsv_overflow.tsv", r"tsv_overflow\.tsv line 1, image 1000: field image_w is inf, outside"),
    (read_tsv, "tsv_bare_cr.tsv", r"tsv_bare_cr\.tsv line 1: not a tab-separated row .*carriage return"),
    (read_annotation, "xml_overflow.xml", r"xml_overflow\.xml: <width> is inf, outside the valid range"),
    (read_annotation, "xml_box_outside.xml", r"xml_box_outside\.xml: the box of entity 1 \[499, 299, 599, 399\] lies entirely outside the 120x80 image"),
    (read_annotation, "xml_huge_canvas.xml", r"xml_huge_canvas\.xml: <size>: 30000x30000 is 900 megapixels, over the 40-megapixel limit"),
    (read_sentences, "sentences_nested.txt", r"line 1: phrase marker '\[/EN#2/clothing' inside the phrase for entity 1"),
    (read_sentences, "sentences_stray_bracket.txt", r"line 1: stray '\]' in 'sits\]'"),
])  # fmt: skip
def test_broken_files_are_refused_naming_file_and_place(read, name, message):
    """A broken TSV line, annotation XML or phrase markup: the file (and line or entity) named."""
    with pytest.raises(InputError, match=message):
        read(REGRESSIONS / name)


def test_nan_features_name_the_file_and_image(tmp_path):
    line = tsv_row("1000", 6, dim=8).split("\t")
    features = np.ones((6, 8), np.float32)
    features[2, 3] = np.nan
    line[5] = base64.b64encode(features.tobytes()).decode()
    (tmp_path / "f.tsv").write_text("\t".join(line) + "\n")
    with pytest.raises(InputError, match=r"f\.tsv, image 1000: regions features: row 2 contains NaN"):
        read_features(tmp_path / "f.tsv", ["1000"], feature_dim=None)["1000"].to_regions()


def test_bracket_inside_a_word_is_refused():
    with pytest.raises(InputError, match=r"stray '\]' in 'a\]b'"):
        parse_sentence("[/EN#1/people a]b man] sits .")
    assert parse_sentence("[/EN#1/people A man] sits .")[0] == "A man sits ."


@pytest.mark.parametrize("name, message", [
    ("split_latin1.txt", r"split list .*split_latin1\.txt is not UTF-8 text"),
    ("split_empty.txt", r"split list .*split_empty\.txt is empty"),
])  # fmt: skip
def test_bad_split_lists_name_the_file(tmp_path, name, message):
    (tmp_path / "val.txt").write_bytes((REGRESSIONS / name).read_bytes())
    with pytest.raises(InputError, match=message.replace(name.replace(".", r"\."), r"val\.txt")):
        read_split(tmp_path, "val")


def test_box_partly_outside_is_clipped_but_wholly_outside_is_refused(tmp_path):
    root = write_entities(tmp_path)
    xml = root / "Annotations" / "2000.xml"
    xml.write_text(xml.read_text().replace("<xmin>51</xmin>", "<xmin>151</xmin>").replace("<xmax>100</xmax>", "<xmax>180</xmax>"))
    data = load_flickr30k(root, progress=False)  # the damaged image is skipped with its reason
    assert "2000" not in {e.image_id for e in data} and len(data) > 0
    assert len(data.skipped) == 1
    assert re.search(r"2000\.xml: the box of entity 7 \[150, 39, 179, 99\] lies entirely outside", data.skipped[0])
    for other in (root / "Annotations").glob("*.xml"):  # every image damaged: the first error is raised
        other.write_text(xml.read_text())
    with pytest.raises(InputError, match=r"the box of entity 7 \[150, 39, 179, 99\] lies entirely outside"):
        load_flickr30k(root, progress=False)


def test_feature_file_for_the_fixture_still_loads(tmp_path):
    data = load_flickr30k(write_entities(tmp_path / "e"), features=write_tsv(tmp_path / "f.tsv"), progress=False)
    assert {e.image_id for e in data} == set(IMAGES)


def test_numbers_are_range_checked():
    assert parse_number(" 42 ", "w", 0, 100) == 42 and parse_number(b"7.9", "w", 0, 100) == 7
    for text in ("1e400", "1e309", "-1e309", "nan", "inf", "x", "", "1" * 50, None, [1]):
        with pytest.raises(InputError, match="^w is "):
            parse_number(text, "w", 0, 100)
    with pytest.raises(InputError, match="outside the valid range 0..100"):
        parse_number("101", "w", 0, 100)


def test_regions_with_no_rows_are_refused():
    with pytest.raises(InputError, match="no detector regions"):
        Regions(boxes=np.zeros((0, 4)), features=np.zeros((0, 8), np.float32), image_size=(10, 10))


def test_check_finite_names_the_tensor_and_position():
    check_finite(np.ones(3), "x")
    with pytest.raises(InputError, match=r"the average feature contains inf at position \[1\]"):
        check_finite(np.array([0.0, np.inf]), "the average feature")


def test_empty_example_set_average_is_none():
    assert ExampleSet("empty", []).average_region_feature() is None


def test_npz_that_claims_to_unpack_to_gigabytes_is_refused_unpacked(tmp_path):
    import struct
    import zipfile

    folder = tmp_path / "npz"
    folder.mkdir()
    path = folder / "1000.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("features.npy", b"\0" * 1000)
    raw = bytearray(path.read_bytes())
    central = raw.rfind(b"PK\x01\x02")  # central directory entry: uncompressed size at +24
    struct.pack_into("<I", raw, central + 24, 3 * 2**30)
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"1000\.npz: its arrays unpack to 3072 MB, more than the 256 MB"):
        read_features(folder, ["1000"], feature_dim=None)


@pytest.mark.parametrize("size, message", [
    ((30000, 30000), "900 megapixels, over the 40-megapixel limit"),
    ((10**30, 10), "megapixels, over the 40-megapixel limit"),
    ((float("inf"), 10), r"expected \(width, height\)"),
    ((0, 10), "must be positive"),
])  # fmt: skip
def test_image_sizes_that_would_allocate_gigabytes_are_refused(size, message):
    from vlexplore.records import Example

    with pytest.raises(InputError, match=message):  # a blank canvas of this size took 5.3 GB
        Example(example_id="e", caption="a dog", phrases=[], image_size=size)
