"""A bug in the app is shown in place as an internal error (with where its traceback was
logged), not as a Streamlit traceback; a loader that crashes is reported the same way."""

from __future__ import annotations

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
    shown = " ".join(e.value for e in at.error)
    assert "internal error: RuntimeError: boom in the page" in shown and "report it" in shown
    assert str(tmp_path / "errors.log") in shown
    assert "boom in the page" in (tmp_path / "errors.log").read_text()


def test_a_crashing_loader_is_reported_as_a_bug_and_logged(monkeypatch, tmp_path):
    monkeypatch.setitem(registry.MODELS, "crashing", registry.ModelEntry("tests.test_app_errors:_crash", "x"))
    monkeypatch.setenv("VLEXPLORE_LOG", str(tmp_path / "errors.log"))
    with pytest.raises(ValueError, match=r"model 'crashing' could not be loaded: internal error: ZeroDivisionError"):
        sources.load_model("crashing")
    assert "ZeroDivisionError" in (tmp_path / "errors.log").read_text()


def _crash(name, **options):
    return 1 / 0
