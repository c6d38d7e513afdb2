import pytest

from vlexplore.data.labelmatch import label_match


@pytest.mark.parametrize(
    ("phrase", "label"),
    [
        ("A man", "man"),
        ("Two young men", "men"),
        ("a red shirt", "shirt"),
        ("a stop sign", "stop sign,stopsign"),  # the longest span wins: not also "sign"
        ("The old TV .", "television,tv"),  # a listed synonym names its class
        ("a man and a dog", ""),  # two classes: not in the LabelMatch subset
        ("something odd", ""),  # no class
    ],
)
def test_label_match(phrase, label):
    assert label_match(phrase) == label
