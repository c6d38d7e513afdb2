"""The app under careless and hostile input (issue 14): a deselected control, a huge canvas,
an unexpected exception, Markdown in captions and links, server paths typed in the page."""

import pytest
from test_app import metrics, start, tiny_registry  # noqa: F401 (tiny_registry: autouse fixture)


@pytest.mark.parametrize(("key", "kept"), [("vis4lang", "object"), ("lang4vis", "phrase")])
def test_clicking_the_selected_segment_keeps_the_choice(key, kept):
    at = start()
    at.segmented_control(key=key).set_value(None).run()  # what the browser sends on a deselect
    assert not at.exception, [e.value for e in at.exception]
    assert at.segmented_control(key=key).value == kept
    assert "MLM loss, Object" in metrics(at) and "MRC-KL, Phrase" in metrics(at)


@pytest.mark.parametrize(("key", "kept"), [("phrase", 0), ("alignment", "iot"), ("baseline", "average"),
                                           ("view", "example")])
def test_a_radio_without_a_choice_keeps_the_previous_one(key, kept):
    at = start()
    at.radio(key=key).set_value(None).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key=key).value == kept
    assert "MLM loss, Object" in metrics(at)


def test_a_choice_lost_while_the_whole_set_ran_comes_back():
    at = start(vis4lang="all")
    at.radio(key="view").set_value("dataset").run()
    assert not at.exception
    at.session_state["vis4lang"] = None  # as seen under load after view switches during a run
    at.radio(key="view").set_value("example").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "MLM loss, All" in metrics(at)
