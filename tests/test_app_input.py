"""A bug in the app is shown in place as an internal error (with where its traceback was
logged), not as a Streamlit traceback; a loader that crashes is reported the same way."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from vlexplore import registry
from vlexplore.views import sources

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def test_a_bug_in_the_page_is_an_internal_error_in_place(monkeypatch, tmp_path):
    from vlexplore.views.page import session

    def broken():
        raise RuntimeError("boom in the page")

    monkeypatch.setattr(session, "sync_state", broken)
    monkeypatch.setenv("VLEXPLORE_LOG", str(tmp_path / "errors.log"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    shown = html.unescape(" ".join(e.value for e in at.error))
    assert "internal error: RuntimeError: boom in the page" in shown and "report it" in shown
    assert str(tmp_path / "errors.log") in shown
    assert "boom in the page" in (tmp_path / "errors.log").read_text()


def test_a_crashing_loader_is_reported_as_a_bug_and_logged(monkeypatch, tmp_path):
    monkeypatch.setitem(registry.MODELS, "crashing", registry.ModelEntry("tests.test_app_input:_crash", "x"))
    monkeypatch.setenv("VLEXPLORE_LOG", str(tmp_path / "errors.log"))
    with pytest.raises(ValueError, match=r"model 'crashing' could not be loaded: internal error: ZeroDivisionError"):
        sources.load_model("crashing")
    assert "ZeroDivisionError" in (tmp_path / "errors.log").read_text()


def _crash(name, **options):
    return 1 / 0


def test_captions_and_messages_are_shown_literally_not_as_markdown():
    import re

    from tests.tiny import make_example
    from vlexplore.views import overlay
    from vlexplore.views.text import literal

    caption = "A tall man ![t](http://host/x.png) :red[walks] a small dog in the park $x$ <img src=x> ."
    example = make_example(caption=caption)
    out = overlay.caption_html(example.caption, example.phrases, selected=0)
    text = re.sub(r"<span[^>]*>|</span>", "", out)
    for syntax in ("![", "](", ":red[", "$x$", "<img"):
        assert syntax not in text
    assert html.unescape(text) == caption  # shown exactly as typed
    assert html.unescape(literal(caption)) == caption and "](" not in literal(caption)


def test_a_markdown_caption_in_a_shared_link_is_not_rendered(monkeypatch):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["example"] = "![t](http://127.0.0.1:9/x.png)"
    at.run()
    assert not at.exception
    shown = [element.value for element in [*at.warning, *at.error, *at.markdown]]
    assert any("![t](http://127.0.0.1:9/x.png)" in html.unescape(value) for value in shown)  # it is quoted ...
    assert not any("](http" in value for value in shown)  # ... but never as Markdown
