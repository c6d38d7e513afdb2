"""The app under careless and hostile input (issue 14): a deselected control, a huge canvas,
an unexpected exception, Markdown in captions and links, server paths typed in the page."""

import pytest
from test_app import bar_spec, metrics, open_tab, start, tiny_registry  # noqa: F401 (tiny_registry: autouse fixture)


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


def _fragment_start(vis4lang, lang4vis):
    """What ``example_result`` (the fragment under the picker) does first, on the values the
    browser sent; AppTest reruns the whole script, so the fragment's own guard is tested here."""
    import streamlit as st

    from vlexplore.views.page import session
    from vlexplore.views.state import Key, ViewState

    st.session_state[Key.LAST_STATE] = ViewState(vis4lang="all", lang4vis="none")
    st.session_state["vis4lang"], st.session_state["lang4vis"] = vis4lang, lang4vis
    session.keep_choices()
    st.write(f"shown: {st.session_state['vis4lang']} / {st.session_state['lang4vis']}")


@pytest.mark.parametrize(("sent", "shown"), [((None, None), "all / none"), (("object", None), "object / none"),
                                              (("bogus", "phrase"), "all / phrase"), (("none", "all"), "none / all")])
def test_a_fragment_rerun_keeps_the_last_condition_for_one_sent_back_empty(sent, shown):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_fragment_start, args=sent).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.markdown[0].value == f"shown: {shown}"


def huge_example(size, example_id="huge"):
    """The tiny example claiming an image of ``size`` (as a wrong annotation would), no picture."""
    from dataclasses import replace

    from tiny import make_example

    example = make_example(0)
    return replace(example, example_id=example_id, image_size=size, regions=replace(example.regions, image_size=size))


def load_huge_set(name="hugeset", **options):
    from tiny import make_example

    from vlexplore.records import ExampleSet

    return ExampleSet("hugeset", [make_example(2), huge_example((30_000, 30_000), "ex0")])


def test_a_thumbnail_without_a_picture_is_drawn_at_its_own_size():
    import tracemalloc

    from vlexplore.views import overlay

    example = huge_example((6_000, 6_000))  # 36 megapixels: under the limit, 108 MB as a full canvas
    tracemalloc.start()
    try:
        small = overlay.thumbnail(example)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert small.shape == (160, 160, 3) and peak < 5e6
    assert (small[60:100, 0:5] == 200).all()  # the canvas grey, outside the gold boxes


def test_an_annotation_over_the_pixel_limit_is_a_message_and_the_page_keeps_working(monkeypatch):
    from vlexplore import registry

    monkeypatch.setitem(registry.DATASETS, "hugeset", registry.DatasetEntry("test_app_safety:load_huge_set", "t"))
    at = start(dataset="hugeset")
    assert not at.exception, [e.value for e in at.exception]
    assert any("30000x30000 is 900 megapixels, over the 40-megapixel limit" in e.value for e in at.error)
    at.selectbox(key="dataset").set_value("tinyset").run()
    assert not at.error and "MLM loss, Object" in metrics(at)


PAYLOAD = "![t](http://host/x.png)"  # every viewer's browser would fetch it, were it Markdown


def rendered(at) -> list[str]:
    """Every text the page hands to Streamlit's Markdown, rendered as CommonMark (HTML allowed, as
    ``unsafe_allow_html`` does): what a browser would show."""
    from markdown_it import MarkdownIt

    markdown = MarkdownIt("commonmark", {"html": True})
    bodies = [e.value for kind in ("markdown", "error", "warning", "info", "caption", "subheader")
              for e in at.get(kind)]
    bodies += [o for r in at.radio for o in r.options] + [b.help or "" for b in at.button]
    return [markdown.render(str(body)) for body in bodies]


def test_captions_words_and_link_values_are_shown_as_text_never_markdown():
    at = start(caption=f"A tall man walks a small dog {PAYLOAD} .", words="![u](http://host/y.png)",
               example=PAYLOAD, vis4lang=PAYLOAD)
    assert not at.exception, [e.value for e in at.exception]
    html = "\n".join(rendered(at))
    assert "host/x.png" in html and "host/y.png" in html  # the payloads are on the page ...
    assert "<img" not in html and 'href="http://host' not in html  # ... as text


def test_a_phrase_with_markdown_is_a_plain_radio_label(monkeypatch):
    from tiny import make_example

    from vlexplore import registry
    from vlexplore.records import ExampleSet, Phrase

    caption = f"A tall man holds {PAYLOAD} ."
    example = make_example(0)
    example = type(example)(example_id="md", caption=caption, image_size=example.image_size, regions=example.regions,
                            phrases=[Phrase.find(caption, "A tall man", boxes=[[10, 10, 40, 60]]),
                                     Phrase.find(caption, PAYLOAD, boxes=[[50, 20, 90, 70]])])
    monkeypatch.setitem(registry.DATASETS, "mdset", registry.DatasetEntry("tiny:load_tiny_set", "t"))
    monkeypatch.setattr("tiny.load_tiny_set", lambda name="mdset", **o: ExampleSet("mdset", [example]))
    at = start(dataset="mdset")
    assert not at.exception, [e.value for e in at.exception]
    html = "\n".join(rendered(at))
    assert "host/x.png" in html and "<img" not in html


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """One data folder holding a file, beside a secret outside it."""
    inside = tmp_path / "data"
    inside.mkdir()
    (inside / "features.tsv").write_text("not features\n")
    (tmp_path / "secret.tsv").write_text("secret\n")
    (inside / "escape").symlink_to(tmp_path / "secret.tsv")
    monkeypatch.setenv("VLEXPLORE_DATA_DIRS", str(inside))
    return inside


def test_typed_paths_outside_the_data_folders_all_get_the_same_not_found(data_dir):
    from vlexplore.views import sources

    outside = {  # exists or not, file or folder, through .. or a symlink: one message
        "missing": str(data_dir.parent / "nothing.tsv"),
        "file outside": str(data_dir.parent / "secret.tsv"),
        "folder outside": "/etc",
        "dotdot": str(data_dir / ".." / "secret.tsv"),
        "symlink out": str(data_dir / "escape"),
        "missing inside": str(data_dir / "nothing.tsv"),
    }
    messages = set()
    for typed in outside.values():
        with pytest.raises(ValueError) as error:
            sources.load_dataset(f"flickr30k:{data_dir}", features=typed)
        messages.add(str(error.value).replace(repr(typed), "PATH"))
    assert len(messages) == 1, messages
    assert "not found" in messages.pop()
    with pytest.raises(ValueError) as error:  # inside: the loader's own (specific) message
        sources.load_dataset(f"flickr30k:{data_dir}", features=str(data_dir / "features.tsv"))
    assert "not found in the folders" not in str(error.value)


def test_the_page_does_not_tell_which_server_paths_exist(data_dir):
    errors = []
    for folder in ("/etc", "/no/such/folder"):
        at = start(dataset=f"flickr30k:{folder}", features="/etc/passwd")
        assert not at.exception, [e.value for e in at.exception]
        errors.append([e.value.replace(folder, "FOLDER") for e in at.error])
    assert errors[0] == errors[1] and any("not found" in e for e in errors[0])
    at = start(model="hf:/etc")  # a model folder typed the same way
    assert any("not found in the folders" in e.value for e in at.error)


def test_vlexplore_app_data_dir_sets_the_folders_the_app_reads(monkeypatch, tmp_path):
    import sys

    from streamlit.web import cli as stcli

    from vlexplore import cli
    from vlexplore.views import sources

    seen = []
    monkeypatch.setenv("VLEXPLORE_DATA_DIRS", "")  # restored after the test
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(stcli, "main", lambda: seen.append(sources.data_dirs()) or 0)
    assert cli.main(["app", "--data-dir", str(tmp_path / "a"), "--data-dir", str(tmp_path)]) == 0
    assert seen == [(tmp_path.resolve() / "a", tmp_path.resolve())]
    assert sys.argv[:2] == ["streamlit", "run"]



def test_a_bug_in_one_part_is_an_internal_error_there_and_the_rest_draws(monkeypatch, tmp_path):
    from vlexplore.views import charts

    def broken(*args, **kwargs):
        raise KeyError(None)  # as LABEL[None] did

    monkeypatch.setattr(charts, "token_chart_spec", broken)
    monkeypatch.setenv("VLEXPLORE_LOG", str(tmp_path / "errors.log"))
    at = start()
    assert not at.exception, [e.value for e in at.exception]
    import html

    shown = [html.unescape(e.value) for e in at.error]
    assert len(shown) == 1 and "internal error: KeyError" in shown[0] and "report" in shown[0]
    assert "Traceback" not in shown[0] and "Traceback" in (tmp_path / "errors.log").read_text()
    assert "MLM loss, Object" in metrics(at)  # the scores above the broken tab still drawn
    assert at.sidebar.radio(key="view").value == "example"
    open_tab(at, "Vision (MRC-KL)")  # and the next tab opens and draws
    assert not at.exception and not at.error
    assert any(c.proto.id and "fig_regions" in c.proto.id for c in at.get("plotly_chart"))


def test_an_internal_error_says_where_to_report_it_and_which_log_to_attach(monkeypatch, tmp_path):
    import html
    from pathlib import Path

    from test_app import APP

    from vlexplore.views import charts

    def broken(*args, **kwargs):
        raise KeyError(None)

    monkeypatch.setattr(charts, "token_chart_spec", broken)
    log = tmp_path / "errors.log"
    monkeypatch.setenv("VLEXPLORE_LOG", str(log))
    shown = html.unescape(start().error[0].value)
    assert 'report it to the issue tracker of the vlexplore repository you got it from (README.md, "Reporting a bug")' in shown
    assert f"attach the log file {log}" in shown
    assert "**Reporting a bug.**" in (Path(APP).parent / "README.md").read_text()  # the section it points to
    (tmp_path / "a file").write_text("")  # a log that cannot be written: the message says how to get one
    monkeypatch.setenv("VLEXPLORE_LOG", str(tmp_path / "a file" / "errors.log"))
    shown = html.unescape(start().error[0].value)
    assert "the traceback could not be written to" in shown and "set VLEXPLORE_LOG to a writable file" in shown


def test_bad_input_in_one_part_is_its_message_there_as_text(monkeypatch, tmp_path):
    from vlexplore.errors import InputError
    from vlexplore.views import figures

    def refuses(*args, **kwargs):
        raise InputError(f"region scores refused {PAYLOAD}")

    monkeypatch.setattr(figures, "region_kl_figure", refuses)
    monkeypatch.setenv("VLEXPLORE_LOG", str(tmp_path / "errors.log"))
    at = open_tab(start(), "Vision (MRC-KL)")  # the tab that draws region_kl_figure
    assert not at.exception, [e.value for e in at.exception]
    html = "\n".join(rendered(at))
    assert "region scores refused" in html and "internal error" not in html and "<img" not in html
    assert not (tmp_path / "errors.log").exists()
    open_tab(at, "Language (MLM)")  # the other tab still draws
    assert bar_spec(at, "fig_tokens")["panels"][0]["bars"]


def test_whole_set_runs_of_two_sessions_take_turns_and_the_waiting_one_says_so(monkeypatch):
    """Sessions asking for whole-set runs at once run them one after another (the server holds
    one run's working memory, not N), and the one that waited says so on its page."""
    import threading
    import time

    from streamlit.testing.v1 import AppTest
    from test_app import APP

    from vlexplore.views.page import dataset, session

    real, lock, running, peak, calls = dataset.diagnose_dataset, threading.Lock(), [0], [0], []

    def counted(*args, **kwargs):
        with lock:
            calls.append(1)
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            if len(calls) == 1:  # hold the first run until the other session waits (or runs beside it)
                deadline = time.monotonic() + 120
                while not session.whole_set_slot().waiting and len(calls) < 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
            return list(real(*args, **kwargs))
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(dataset, "diagnose_dataset", counted)
    pages = {}

    def open_whole_set(threshold: str) -> None:
        at = AppTest.from_file(APP, default_timeout=240)
        at.query_params.update({"model": "counted", "dataset": "tinyset", "view": "dataset", "threshold": threshold})
        pages[threshold] = at.run()

    first = threading.Thread(target=open_whole_set, args=("0.31",))
    first.start()
    deadline = time.monotonic() + 120
    while not calls and time.monotonic() < deadline:
        time.sleep(0.05)
    second = threading.Thread(target=open_whole_set, args=("0.33",))  # other settings: a run of its own
    second.start()
    first.join(300)
    second.join(300)
    assert set(pages) == {"0.31", "0.33"}
    for at in pages.values():
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        assert any("counted on tinyset" in h.value for h in at.subheader)
    assert len(calls) == 2 and peak[0] == 1  # both ran, never at the same time
    waited = [c.value for c in pages["0.33"].caption if "for another whole-set run" in c.value]
    assert len(waited) == 1 and waited[0].startswith("Waited"), waited
    assert not [c for c in pages["0.31"].caption if "for another whole-set run" in c.value]


def test_a_session_waiting_for_the_whole_set_slot_can_still_be_stopped():
    """A user who leaves (or clicks elsewhere) while waiting stops the wait: it polls, so the
    script thread does not stay blocked behind another session's run."""
    import threading

    from streamlit.testing.v1 import AppTest
    from test_app import APP

    from vlexplore.views.page import session

    slot = session.whole_set_slot()
    outcome = []

    def open_whole_set() -> None:
        at = AppTest.from_file(APP, default_timeout=20)
        at.query_params.update({"model": "counted", "dataset": "tinyset", "view": "dataset", "threshold": "0.29"})
        try:
            at.run()
        except RuntimeError as error:  # AppTest stops a run that outlives its timeout
            outcome.append(str(error))

    assert slot.lock.acquire(timeout=60)  # another session's run, held
    try:
        waiting = threading.Thread(target=open_whole_set)
        waiting.start()
        waiting.join(120)
        assert not waiting.is_alive()
        assert outcome and "timed out" in outcome[0]
        assert not slot.waiting
    finally:
        slot.lock.release()
    assert slot.lock.acquire(timeout=1)  # nobody left holding it
    slot.lock.release()
