import numpy as np
import pytest

from vlexplore.records import Example, ExampleSet, Phrase, Regions


def regions(**changes):
    fields = dict(boxes=[[0, 0, 9, 9], [5, 5, 19, 19]], features=np.ones((2, 4)), image_size=(20, 20))
    fields.update(changes)
    return Regions(**fields)


def test_phrase_find_locates_words_and_chars():
    caption = "Two men play chess in a park ."
    phrase = Phrase.find(caption, "two men", boxes=[[0, 0, 5, 5]])
    assert (phrase.first_word, phrase.num_words) == (0, 2)
    assert caption[phrase.char_start : phrase.char_end] == "Two men"
    second = Phrase.find("a dog and a cat", "a", occurrence=1)
    assert second.first_word == 3


def test_phrase_not_in_caption_is_named():
    with pytest.raises(ValueError, match="'a horse' is not in the caption"):
        Phrase.find("A man rides a bike .", "a horse")


def test_reversed_box_is_named():
    with pytest.raises(ValueError, match="reversed"):
        regions(boxes=[[9, 0, 0, 9], [5, 5, 19, 19]])


def test_box_outside_image_is_named():
    with pytest.raises(ValueError, match="outside the 20x20 image"):
        regions(boxes=[[0, 0, 9, 9], [5, 5, 20, 19]])
    with pytest.raises(ValueError, match=r"phrase 'man' boxes: box 0 .* outside"):
        Example("e", "a man", [Phrase("man", 1, 1, boxes=[[-3, 0, 5, 5]])], (20, 20))


def test_nan_features_are_named():
    features = np.ones((2, 4))
    features[1, 2] = np.nan
    with pytest.raises(ValueError, match="features: row 1 contains NaN"):
        regions(features=features)


def test_wrong_feature_rows_and_cls_prob():
    with pytest.raises(ValueError, match="one row per box"):
        regions(features=np.ones((3, 4)))
    with pytest.raises(ValueError, match="sum to 1"):
        regions(cls_prob=np.ones((2, 3)))


def test_phrase_span_outside_caption():
    with pytest.raises(ValueError, match="outside the caption, which has 2 words"):
        Example("e", "a man", [Phrase("man walks", 1, 2, boxes=[[0, 0, 5, 5]])], (20, 20))


def test_empty_caption():
    with pytest.raises(ValueError, match="caption is empty"):
        Example("e", "   ", [], (20, 20))


def test_average_region_feature_is_weighted_by_phrases():
    box = [[0, 0, 5, 5]]
    one = Example("a", "a man", [Phrase("man", 1, 1, boxes=box)], (20, 20),
                  regions=regions(features=np.zeros((2, 4))))
    three = Example("b", "a man a dog a cat", [Phrase("man", 1, 1, boxes=box), Phrase("dog", 3, 1, boxes=box),
                    Phrase("cat", 5, 1, boxes=box)], (20, 20), regions=regions(features=np.full((2, 4), 4.0)))
    average = ExampleSet("s", [one, three]).average_region_feature()
    assert average.tolist() == pytest.approx([3.0] * 4)  # (1*0 + 3*4) / 4
