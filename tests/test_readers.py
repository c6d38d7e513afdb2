"""Flickr30k Entities and the three region-feature formats, read back from files the tests write."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from tests.flickr_fixture import (
    IMAGES,
    region_arrays,
    write_entities,
    write_lmdb,
    write_npz,
    write_tsv,
)
from vlexplore import registry
from vlexplore.data.features import read_features
from vlexplore.data.flickr30k import load_flickr30k, parse_sentence, read_annotation
from vlexplore.data.pickled_rows import load_row


def test_sentence_markup_gives_words_and_phrases():
    caption, phrases = parse_sentence(
        "[/EN#18/people/other A man] with [/EN#19/bodyparts pierced ears] ."
    )
    assert caption == "A man with pierced ears ."
    assert [(p.text, p.first_word, p.num_words, p.entity_id) for p in phrases] == [
        ("A man", 0, 2, "18"),
        ("pierced ears", 3, 2, "19"),
    ]
    assert phrases[0].phrase_types == ("people", "other")


def test_unclosed_phrase_is_an_error():
    with pytest.raises(ValueError, match="not closed"):
        parse_sentence("[/EN#1/people A man sits", "x.txt line 1")


def test_annotation_boxes_are_zero_based_and_scene_kept_apart(tmp_path):
    write_entities(tmp_path)
    annotation = read_annotation(tmp_path / "Annotations" / "1000.xml")
    assert annotation.image_size == (120, 80)
    assert annotation.boxes["1"] == [[10, 5, 59, 74]]
    assert annotation.boxes["3"] == [[60, 30, 79, 44], [89, 9, 99, 19]]
    assert annotation.scene == {"4"} and "4" not in annotation.boxes


def test_dataset_without_features(tmp_path):
    write_entities(tmp_path)
    dataset = load_flickr30k(tmp_path, progress=False)
    assert [e.example_id for e in dataset] == ["1000_0", "1000_1", "2000_0"]
    first = dataset[0]
    assert first.caption == "A man in a red shirt holds a cup ."
    assert first.image_size == (120, 80) and first.regions is None and first.image_id == "1000"
    cup = first.phrases[2]
    assert (cup.text, cup.first_word, cup.num_words) == ("a cup", 7, 2)
    assert first.caption[cup.char_start : cup.char_end] == "a cup"
    assert len(cup.boxes) == 2
    # scene and not-visual phrases are kept, with no boxes, so they are never diagnosed
    second, dogs = dataset[1], dataset[2]
    assert second.phrases[1].text == "the park" and len(second.phrases[1].boxes) == 0
    assert second.diagnosable_phrases() == [0]
    assert [p.text for p in dogs.phrases] == ["Two dogs", "the", "grass"]
    assert dogs.diagnosable_phrases() == [0]
    assert len(dataset.units()) == 5  # man, shirt, cup, young man, dogs
    # LabelMatch: the Visual Genome class each phrase names, where it names exactly one
    assert [p.label for p in first.phrases] == ["man", "shirt", "cup"]


@pytest.mark.parametrize("kind", ["tsv6", "tsv13", "lmdb", "npz"])
def test_each_features_format_reads_back(tmp_path, kind):
    write_entities(tmp_path / "f30k")
    if kind.startswith("tsv"):
        features = write_tsv(tmp_path / "feats.tsv", fields=int(kind[3:]))
    elif kind == "lmdb":
        pytest.importorskip("lmdb")
        features = write_lmdb(tmp_path / "feats.lmdb")
    else:
        features = write_npz(tmp_path / "npz")
    dataset = registry.load_dataset(f"flickr30k:{tmp_path / 'f30k'}", features=str(features))
    for example in dataset:
        expected = region_arrays(example.image_id)
        regions = example.regions
        np.testing.assert_array_equal(regions.features, expected["features"])
        np.testing.assert_allclose(regions.boxes, expected["boxes"], rtol=0, atol=1e-4)
        assert regions.image_size == IMAGES[example.image_id][:2]
        if kind == "tsv6":
            assert regions.cls_prob is None
        else:
            np.testing.assert_allclose(regions.cls_prob, expected["cls_prob"], rtol=1e-6)
            assert len(regions.class_names) == 1601 and regions.class_names[0] == "__background__"
    assert dataset.average_region_feature().shape == (2048,)


def test_images_folder_sets_paths(tmp_path):
    write_entities(tmp_path / "f30k")
    (tmp_path / "img").mkdir()
    for image_id in IMAGES:
        (tmp_path / "img" / f"{image_id}.jpg").write_bytes(b"")
    dataset = load_flickr30k(tmp_path / "f30k", images=tmp_path / "img", limit=1, progress=False)
    assert {e.image_id for e in dataset} == {"1000"}
    assert dataset[0].image_path == str(tmp_path / "img" / "1000.jpg")


def test_features_with_2047_columns_name_the_file(tmp_path):
    path = write_tsv(tmp_path / "bad.tsv", fields=6, dim=2047)
    with pytest.raises(ValueError, match=r"bad\.tsv.*2047 columns, expected 2048"):
        read_features(path, ["1000"])


def test_npz_with_wrong_width_names_the_file(tmp_path):
    folder = tmp_path / "npz"
    folder.mkdir()
    arrays = region_arrays("1000")
    arrays["features"] = arrays["features"][:, :2047]
    np.savez(folder / "1000.npz", **arrays)
    with pytest.raises(ValueError, match=r"1000\.npz.*2047 columns"):
        read_features(folder, ["1000"])


def test_missing_image_features_are_reported(tmp_path):
    path = write_tsv(tmp_path / "feats.tsv", extra_ids=())
    with pytest.raises(ValueError, match=r"no features for 1 of the 2 images.*4242"):
        read_features(path, ["1000", "4242"])


def test_feature_size_must_match_the_annotation(tmp_path):
    write_entities(tmp_path / "f30k")
    path = write_tsv(tmp_path / "feats.tsv")
    xml = tmp_path / "f30k" / "Annotations" / "1000.xml"
    xml.write_text(xml.read_text().replace("<width>120</width>", "<width>240</width>"))
    with pytest.raises(
        ValueError, match=r"feats\.tsv, image 1000: .*120x80 image.*1000\.xml says 240x80"
    ):
        load_flickr30k(tmp_path / "f30k", features=path, progress=False)


def test_xml_that_does_not_parse_names_the_file(tmp_path):
    write_entities(tmp_path)
    (tmp_path / "Annotations" / "2000.xml").write_text("<annotation><size><width>1</width>")
    data = load_flickr30k(tmp_path, progress=False)  # skipped with its reason; the rest loads
    assert [s for s in data.skipped if "2000.xml: the annotation XML does not parse" in s]
    assert "2000" not in {e.image_id for e in data}
    (tmp_path / "val.txt").write_text("2000\n")
    with pytest.raises(ValueError, match=r"2000\.xml: the annotation XML does not parse"):
        load_flickr30k(tmp_path, progress=False)  # nothing else to load: the error itself


def test_missing_split_list_says_what_is_expected(tmp_path):
    write_entities(tmp_path)
    with pytest.raises(ValueError, match=r"test\.txt does not exist"):
        load_flickr30k(tmp_path, split="test", progress=False)


def test_lmdb_rows_cannot_run_code(tmp_path):
    pytest.importorskip("lmdb")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    path = write_lmdb(tmp_path / "feats.lmdb", rows={"6666": pickle.dumps(Evil())})
    with pytest.raises(ValueError, match=r"refusing to unpickle (posix|os)\.system"):
        read_features(path, ["6666"])
    # numpy arrays and plain containers do come back
    row = {"boxes": np.zeros((2, 4), np.float32), "n": 2}
    back = load_row(pickle.dumps(row))
    assert back["n"] == 2 and back["boxes"].shape == (2, 4)


def test_unknown_dataset_option_is_refused(tmp_path):
    write_entities(tmp_path)
    with pytest.raises(ValueError, match="unknown option"):
        registry.load_dataset(f"flickr30k:{tmp_path}", colour="red")
