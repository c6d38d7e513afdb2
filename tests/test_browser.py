"""A real browser against `streamlit run`: load, pick a phrase, toggle Object/All, upload.

Needs Debian's /usr/bin/chromium and the playwright package. Skipped (with the reason) only
when chromium is missing outside CI; in CI (env CI set) a missing browser fails the test.
Screenshots go to test-artifacts/ for a human to look at.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

PICTURE = "svg.vlx-picture"  # the example's picture (views/page/picture.js)
IMAGE_DASHED = """() => document.querySelectorAll('svg.vlx-picture .vlx-outlines rect[data-dash="dash"]').length"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(script: str):
    """`streamlit run script` on a free port; yields the base URL, kills the server after."""
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / f"streamlit_{Path(script).stem}.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"streamlit did not start; see {log.name}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def server():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI; install Debian's chromium (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing; install Debian's chromium to run the browser test")
    pytest.importorskip("playwright.sync_api")
    for base in start_server("tests/app_tiny.py"):
        yield base + "?model=tiny&dataset=tinyset"


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """A fresh tab (a fresh Streamlit session) per test."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(90_000)
    page.goto(server)
    yield page
    page.close()


def metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label)
    return box.locator('[data-testid="stMetricValue"]').inner_text(timeout=60_000)


def wait_idle(page) -> None:
    """Until Streamlit has finished the rerun (its status widget disappears)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector("
        "'[data-testid=\"stStatusWidget\"], [data-testid=\"stSkeleton\"], [data-stale=\"true\"]')",
        timeout=90_000,
    )


try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
except ImportError:  # the server fixture skips these tests without playwright
    PlaywrightTimeoutError = TimeoutError


def choose(page, key: str, option: str):
    """The option of the radio or segmented control whose widget key is ``key``."""
    return page.locator(f".st-key-{key}").get_by_role("radio", name=option, exact=True)


def type_caption(page, caption: str) -> None:
    """Once the first example is shown, replace its caption and press Enter."""
    page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
    wait_idle(page)
    field = page.locator(".st-key-caption_input input")
    field.fill(caption)
    field.press("Enter")


def open_dataset_view(page, server) -> None:
    page.goto(server + "&view=dataset")
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=120_000)
    wait_idle(page)


def click_mrc_kl_phrase_bar(page) -> None:
    """Click this run's bar (first trace) for MRC-KL "Phrase" (second bar) in the right-hand panel."""
    bar = page.locator(".js-plotly-plot .subplot.x2y2 .barlayer .trace").first.locator(".point").nth(1)
    bar.click(force=True)
    page.wait_for_function(
        "() => document.querySelector('.st-key-bar_side label[data-selected=true]')"
        "?.innerText?.includes('MRC-KL')", timeout=60_000)
    wait_idle(page)


def open_upload_tab(page, server, tmp_path_factory):
    """The tiny set on a tiny random ViLT (a model that takes raw images), at "Your own image";
    returns the file input."""
    from tiny_vilt import save_tiny_vilt

    vilt = save_tiny_vilt(tmp_path_factory.mktemp("vilt"))
    page.goto(server + f"&model=hf:{vilt}")
    page.wait_for_selector('[data-testid="stAlertContentError"]', timeout=120_000)  # tiny set has no pictures
    wait_idle(page)
    page.get_by_text("Pick an example", exact=False).first.click()
    page.get_by_role("tab", name="Your own image").click()
    return page.locator('[data-testid="stFileUploaderDropzoneInput"]')


def upload(page, uploader, name: str, mime_type: str, data: bytes) -> None:
    uploader.set_input_files(files=[{"name": name, "mimeType": mime_type, "buffer": data}])
    page.locator(".st-key-upload_file").get_by_text(name).wait_for()  # uploaded, not only chosen
    wait_idle(page)


def use_image(page, caption: str, phrase: str, box: str) -> None:
    """Fill the upload form's caption, phrase and box, and press "Use this image"."""
    page.get_by_label("Caption", exact=True).fill(caption)
    page.get_by_label("Phrase (words of the caption)").fill(phrase)
    page.get_by_label("Its box x1,y1,x2,y2 (pixels)").fill(box)
    page.keyboard.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Use this image").click()


def test_pick_toggle_draw_and_export(page):
    page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
    wait_idle(page)
    first = metric(page, "MLM loss")
    choose(page, "phrase", "a small dog").click(force=True)
    wait_idle(page)
    page.wait_for_url("**phrase=1**", timeout=60_000)
    assert metric(page, "MLM loss") != first  # another phrase, another loss

    choose(page, "vis4lang", "Object").click()
    wait_idle(page)
    object_marks = page.evaluate(IMAGE_DASHED)
    object_bits = metric(page, "MLM loss, Object")
    page.screenshot(path=str(ARTIFACTS / "browser_object.png"))

    choose(page, "vis4lang", "All").click()
    page.wait_for_url("**vis4lang=all**", timeout=90_000)  # the query string is written last in a run
    wait_idle(page)
    page.wait_for_selector('[data-testid="stMetric"]:has-text("MLM loss, All")', timeout=60_000)
    all_marks = page.evaluate(IMAGE_DASHED)
    all_bits = metric(page, "MLM loss, All")
    assert (object_marks, all_marks) == (3, 6)  # the dog's two regions and the whole-image one, then all
    assert all_bits != object_bits or object_marks != all_marks
    page.screenshot(path=str(ARTIFACTS / "browser_all.png"))

    plot = page.locator(PICTURE).bounding_box()  # drag a new box for the phrase
    page.mouse.move(plot["x"] + plot["width"] * 0.55, plot["y"] + plot["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(plot["x"] + plot["width"] * 0.8, plot["y"] + plot["height"] * 0.6, steps=8)
    page.mouse.up()
    page.wait_for_url("**box=**", timeout=60_000)
    wait_idle(page)
    assert page.locator(".st-key-redraw input").is_checked()
    page.screenshot(path=str(ARTIFACTS / "browser_drawn_box.png"))

    page.mouse.move(800, 500)
    page.mouse.wheel(0, 560)
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / "browser_language_tab.png"))
    page.get_by_role("tab", name="Vision (MRC-KL)").click()
    page.wait_for_timeout(800)
    page.mouse.wheel(0, 300)
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / "browser_vision_tab.png"))
    page.mouse.wheel(0, 600)
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / "browser_vision_tab_lower.png"))
    page.get_by_role("tab", name="Tables & export").click()
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "browser_tables_tab.png"))
    with page.expect_download(timeout=150_000) as download:  # rendered by kaleido only now
        page.locator(".st-key-png_export").get_by_role("button", name="PNG", exact=True).click()
    png = Path(download.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert " " not in download.value.suggested_filename
    with page.expect_download(timeout=60_000) as download:
        page.locator(".st-key-zip_export").get_by_role("button").click()
    assert download.value.suggested_filename == "ex0_p1_all.zip"
    assert Path(download.value.path()).read_bytes()[:2] == b"PK"
    with page.expect_download(timeout=60_000) as download:
        page.locator(".st-key-csv_tokens").get_by_role("button", name="tokens table (CSV)", exact=True).click()
    csv = Path(download.value.path()).read_text()
    assert csv.startswith("example_id,phrase_index,phrase,position") and "a small dog" in csv
    page.mouse.wheel(0, -3000)


def test_a_condition_switch_redraws_the_picture_in_place_and_a_click_picks_a_region(page):
    page.wait_for_selector('[data-testid="stMetric"]:has-text("MLM loss, Object")', timeout=120_000)
    wait_idle(page)
    page.wait_for_function(f"() => {IMAGE_DASHED[6:]} === 3")
    page.evaluate(f"() => {{ window.picture = document.querySelector('{PICTURE}'); }}")  # this very node
    choose(page, "vis4lang", "All").click()
    page.wait_for_url("**vis4lang=all**", timeout=90_000)
    wait_idle(page)
    page.wait_for_function(f"() => {IMAGE_DASHED[6:]} === 6")  # the outlines follow the switch ...
    assert page.evaluate(f"() => document.querySelector('{PICTURE}') === window.picture")  # ... in place
    # a click inside region 4 (the 20 x 20 corner of the 100 x 80 picture, inside the whole-image
    # region): its classes, on the Vision tab
    region = page.locator(f'{PICTURE} .vlx-hits rect[data-region="4"]')
    assert "region 4" in region.locator("title").text_content()
    box = region.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.25)
    page.wait_for_function("() => document.body.innerText.includes('Classes at region r4')", timeout=60_000)
    wait_idle(page)
    assert page.get_by_role("tab", name="Vision (MRC-KL)").get_attribute("aria-selected") == "true"
    assert page.evaluate(f"() => document.querySelector('{PICTURE}') === window.picture")


LANGUAGE_CHARTS = """() => Array.from(document.querySelectorAll('svg.vlx-chart')).map(svg => ({
  panels: Array.from(svg.querySelectorAll('.vlx-panel-title')).map(t => t.textContent),
  legend: Array.from(svg.querySelectorAll('.vlx-legend text')).map(t => t.textContent),
  bars: Array.from(svg.querySelectorAll('rect[data-value]')).map(r => r.querySelector('title').textContent),
  title: svg.querySelector('.vlx-title')?.textContent ?? ''}))"""


def test_the_language_tab_draws_its_charts_as_svg_and_the_first_page_no_plotly(page):
    page.wait_for_selector('[data-testid="stMetric"]:has-text("MLM loss, Object")', timeout=120_000)
    wait_idle(page)
    page.wait_for_selector("svg.vlx-chart rect[data-value]", timeout=60_000)
    tokens, topk = page.evaluate(LANGUAGE_CHARTS)
    assert tokens["panels"] == ["MLM loss (bits, lower = better)", "P(gold token)"]
    assert tokens["legend"] == ["None", "Object", "All"]
    n = len(tokens["bars"]) // 6  # sub-tokens: three conditions, two panels
    assert n > 0 and all(" bits\n" in t for t in tokens["bars"][:3 * n])  # each bar's exact value on hover
    assert all("P(gold) " in t for t in tokens["bars"][3 * n:])
    assert topk["panels"] == ["None", "Object", "All"] and "Top predictions for masked token" in topk["title"]
    assert page.locator(".js-plotly-plot").count() == 0  # nothing on the first page needs plotly.js
    # another masked token: the top predictions follow
    radios = page.locator(".st-key-token_index").get_by_role("radio")
    other = next(i for i in range(radios.count()) if not radios.nth(i).is_checked())
    assert f"masked token {other + 1} (" not in topk["title"]
    radios.nth(other).click(force=True)
    wait_idle(page)
    page.wait_for_function("() => document.querySelector('svg.vlx-chart .vlx-title')"
                           f"?.textContent.includes('masked token {other + 1} (')", timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "browser_language_charts.png"))


def test_dataset_bar_click_lists_its_phrases(page, server):
    open_dataset_view(page, server)
    assert page.locator(".st-key-bar_side").get_by_role("radio", name="MLM").is_checked()
    click_mrc_kl_phrase_bar(page)
    assert page.locator(".st-key-bar_condition").get_by_role("radio", name="Phrase").is_checked()
    assert "Phrases behind MRC-KL Phrase" in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "browser_dataset.png"))


def png_bytes(width=96, height=64) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 160, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_upload_bad_file_then_a_picture(page, server, tmp_path_factory):
    pytest.importorskip("transformers")
    uploader = open_upload_tab(page, server, tmp_path_factory)
    upload(page, uploader, "notes.txt", "text/plain", b"not a picture")
    use_image(page, "a green field", "a green field", "0,20,95,63")
    page.locator('[data-testid="stAlertContentError"]').filter(has_text="not an image").wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "browser_upload_error.png"))

    upload(page, uploader, "field.png", "image/png", png_bytes())
    page.locator(".st-key-upload_file").get_by_text("notes.txt").wait_for(state="detached")
    page.get_by_role("button", name="Use this image").click()
    wait_idle(page)
    page.wait_for_function("() => location.search.includes('example=upload')", timeout=90_000)
    page.wait_for_selector('[data-testid="stMetric"]:has-text("MLM loss")', timeout=60_000)
    wait_idle(page)
    assert page.evaluate(IMAGE_DASHED) > 0  # the patches under the box are marked
    page.screenshot(path=str(ARTIFACTS / "browser_upload_vilt.png"))


def test_make_run_opens_the_built_in_model_or_says_what_is_missing(browser):
    """What `make run` serves: app.py on the built-in model and examples, no query string."""
    for base in start_server("app.py"):
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(base)
        answer = page.locator('[data-testid="stMetric"], [data-testid="stAlertContentError"]').first
        answer.wait_for(timeout=120_000)
        wait_idle(page)
        page.screenshot(path=str(ARTIFACTS / "browser_make_run.png"))
        assert not page.locator('[data-testid="stException"]').count()
        if page.locator('[data-testid="stMetric"]').count():
            page.wait_for_url("**model=demo**example=**", timeout=60_000)
        else:  # a partial install: the page names what is missing
            text = page.locator('[data-testid="stAlertContentError"]').first.inner_text()
            assert "demo" in text or "checkpoint" in text
        page.close()


def test_own_image_through_a_volta_model_with_the_detector(browser, tmp_path_factory):
    """Upload -> the detector's 36 numbered regions -> click one -> it is the phrase's box -> scores."""
    import torch
    from detector_fixture import VOLTA_SIZES, photo, write_detector
    from PIL import Image
    from test_app import small_volta_config

    from vlexplore.models.volta import VoltaForPretraining

    root = tmp_path_factory.mktemp("browser_detector")
    torch.manual_seed(0)
    checkpoint = root / "pytorch_model_9.bin"
    torch.save(VoltaForPretraining(small_volta_config("uniter")).state_dict(), checkpoint)
    detector = write_detector(root / "detector", **VOLTA_SIZES)
    picture = root / "photo.jpg"
    Image.fromarray(photo(200, 150)).save(picture, quality=95)
    for base in start_server("tests/app_detector.py"):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(120_000)
        page.goto(base + f"?model=volta:uniter&checkpoint={checkpoint}&dataset=tinyset")
        wait_idle(page)
        page.locator(".st-key-detector input").fill(str(detector))
        page.keyboard.press("Enter")
        wait_idle(page)
        page.get_by_text("Pick an example", exact=False).first.click()
        page.get_by_role("tab", name="Your own image").click()
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(picture))
        page.get_by_text("36 regions by the detector", exact=False).first.wait_for(timeout=180_000)
        wait_idle(page)
        chart = page.locator(".st-key-upload_regions_chart .js-plotly-plot")
        chart.wait_for()
        # click region 1's number (the first marker of the numbered trace) where plotly drew it
        marker = chart.locator(".scatterlayer .trace").last.locator(".points .point").first.bounding_box()
        page.mouse.click(marker["x"] + marker["width"] / 2, marker["y"] + marker["height"] / 2)
        page.screenshot(path=str(ARTIFACTS / "browser_detector_regions.png"))
        page.wait_for_function("() => document.querySelector('.st-key-upload_box input').value.split(',').length === 4",
                               timeout=60_000)
        wait_idle(page)
        page.get_by_label("Caption", exact=True).fill("a red box next to a green circle")
        page.get_by_label("Phrase (words of the caption)").fill("a red box")
        page.keyboard.press("Enter")
        wait_idle(page)
        page.get_by_role("button", name="Use this image").click()
        try:
            page.wait_for_selector('[data-testid="stMetric"]:has-text("MLM loss")', timeout=180_000)
        finally:
            page.screenshot(path=str(ARTIFACTS / "browser_upload_detector.png"), full_page=True)
        page.get_by_text("Regions of your image: 36 regions by the detector", exact=False).wait_for()
        wait_idle(page)
        page.screenshot(path=str(ARTIFACTS / "browser_upload_detector.png"))
        page.close()


def test_markdown_in_a_shared_link_is_shown_as_text(page, server):
    """Issue 14: a caption (or any value) in a link must not make the viewer's browser fetch anything."""
    from urllib.parse import quote

    payload = "![t](http://host/x.png)"
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    links = {  # what the link carries: the part of the page that quotes it
        f"&example={quote(payload)}&caption={quote(f'A tall man walks a small dog {payload} .')}":
            '[data-testid="stMetric"]',  # a warning (no such example) and the caption in colour
        f"&words={quote(payload)}": '[data-testid="stAlertContentError"]',  # "... is not in the caption"
    }
    for query, shown in links.items():
        page.goto(server + query)
        page.wait_for_selector(shown, timeout=120_000)
        wait_idle(page)
        assert not page.locator('[data-testid="stException"]').count()
        assert page.inner_text("body").count(payload) >= 1 + (shown == '[data-testid="stMetric"]')
        images = "() => [...document.querySelectorAll('img')].filter(i => i.src.includes('host')).length"
        assert page.evaluate(images) == 0
    page.screenshot(path=str(ARTIFACTS / "browser_markdown_payload.png"))
    assert not [url for url in requested if url.startswith("http://host")]


# ---------------------------------------------------------------- issue 13: projector-ready, never a wrong view
SMALLEST_TEXT = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  let smallest = [1e9, ''];
  while (walker.nextNode()) {
    const node = walker.currentNode, text = node.textContent.trim(), el = node.parentElement;
    if (!text) continue;
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    if (!box.width || !box.height || box.bottom < 0 || box.top > innerHeight) continue;
    if (style.visibility === 'hidden' || style.display === 'none' || style.opacity === '0') continue;
    if (el.closest('.modebar, [data-testid="stTooltipHoverTarget"] svg')) continue;
    const size = parseFloat(style.fontSize);
    if (size < smallest[0]) smallest = [size, text.slice(0, 60)];
  }
  return smallest;
}"""


@pytest.fixture(scope="module")
def demo_server():
    yield from start_server("app.py")


def test_presenter_mode_fills_1920x1080_in_large_type_and_steps_with_pagedown(browser, demo_server):
    deck = "scene1000002-1:1,scene1000000-2:1"
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.set_default_timeout(90_000)
    page.goto(demo_server + f"?present=1&deck={deck}&example=scene1000002-1&phrase=1")
    page.wait_for_selector('[data-testid="stMetric"]:has-text("MLM loss")', timeout=120_000)
    wait_idle(page)
    page.wait_for_timeout(1500)  # plotly draws after the metrics
    page.screenshot(path=str(ARTIFACTS / "presenter_1920x1080.png"))
    size, text = page.evaluate(SMALLEST_TEXT)
    assert size >= 16, f"{text!r} is {size}px"
    image = page.locator(PICTURE).bounding_box()
    assert image["width"] >= 1000 and image["height"] >= 600  # the picture's column and height use the screen
    story = page.locator(".st-key-presenter_story").bounding_box()
    metrics_box = page.locator('[data-testid="stMetric"]').first.bounding_box()
    assert story["y"] + story["height"] <= 1080 and metrics_box["y"] + metrics_box["height"] <= 1080
    assert story["x"] > image["x"] + image["width"] - 5  # side by side
    assert "Deck: 1 of 2" in page.inner_text("body")
    page.locator(".st-key-presenter_story").click()  # focus on the page, not in a field
    page.keyboard.press("PageDown")
    page.wait_for_url("**example=scene1000000-2**", timeout=60_000)
    wait_idle(page)
    assert "Deck: 2 of 2" in page.inner_text("body")
    page.close()


def test_the_normal_view_at_1280x720(browser, demo_server):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.set_default_timeout(90_000)
    page.goto(demo_server + "?example=scene1000002-1&phrase=1")
    page.wait_for_selector('[data-testid="stMetric"]:has-text("MLM loss")', timeout=120_000)
    wait_idle(page)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "normal_1280x720.png"))
    assert not page.locator('[data-testid="stException"]').count()
    page.close()


def test_a_link_above_the_sliders_maximum_shows_a_warning_not_a_traceback(page, server):
    page.goto(server + "&threshold=0.97")
    page.wait_for_selector('[data-testid="stMetric"]:has-text("Aligned regions")', timeout=60_000)
    wait_idle(page)
    assert not page.locator('[data-testid="stException"]').count()
    assert "threshold=0.97 is above the largest the slider offers" in page.inner_text("body")
    assert page.locator('.st-key-threshold [data-testid="stSliderThumbValue"]').inner_text() == "0.95"
    page.wait_for_url("**threshold=0.95**", timeout=30_000)


def test_editing_the_phrases_words_keeps_a_working_view(page):
    type_caption(page, "A short man walks a small dog in the park .")
    choose(page, "phrase", "A short man").wait_for(timeout=60_000)
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "browser_caption_edit.png"))
    assert page.locator(".st-key-phrase label[data-selected=true]").inner_text() == "A short man"
    assert not page.locator('[data-testid="stAlertContentError"]').count()
    assert page.locator('[data-testid="stMetric"]:has-text("MLM loss, Object")').count()


def test_words_outside_the_vocabulary_are_flagged(page):
    type_caption(page, "A tall ☃ walks a small dog in the park .")
    warning = page.locator('[data-testid="stAlertContentWarning"]').filter(has_text="not in tiny's vocabulary")
    warning.wait_for(timeout=60_000)
    assert "'☃'" in warning.inner_text()


def test_a_typed_box_without_area_is_refused_on_apply(page):
    page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
    wait_idle(page)
    page.get_by_text("Other words, or redraw the box").click()
    redraw = page.locator(".st-key-redraw")
    for _ in range(3):  # a click that lands during a rerun can be dropped by the server: check it took
        if not redraw.locator("input").is_checked():
            redraw.locator("label").click()
        wait_idle(page)
        try:
            page.locator(".st-key-box_x1 input").wait_for(timeout=30_000)
            break
        except PlaywrightTimeoutError:
            continue
    for key, value in (("box_x1", "40"), ("box_x2", "40")):
        page.locator(f".st-key-{key} input").fill(value)
    page.get_by_role("button", name="Apply box").click()
    page.locator('[data-testid="stAlertContentError"]').filter(has_text="has no area").wait_for(timeout=60_000)
    assert not page.locator('[data-testid="stException"]').count()


def test_whole_set_choice_opens_what_it_shows_after_a_bar_click(page, server):
    open_dataset_view(page, server)
    click_mrc_kl_phrase_bar(page)
    page.screenshot(path=str(ARTIFACTS / "browser_dataset_bar_click.png"))
    page.locator(".st-key-open_row").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "browser_dataset_open_row.png"))
    shown = page.locator(".st-key-open_row").evaluate(  # what the box shows (its text or its input's value)
        "e => [e.innerText, ...[...e.querySelectorAll('input')].map(i => i.value)].join('\\n')")
    shown = next(line for line in shown.split("\n") if " · " in line)
    example_id, phrase = shown.split(" · ")[0], shown.split(" · ")[1].rsplit(" (", 1)[0]
    page.get_by_role("button", name="Open in the example view").click()
    page.wait_for_url(f"**example={example_id}**", timeout=60_000)
    wait_idle(page)
    assert choose(page, "phrase", phrase).is_checked()


def test_a_1x1_upload_gets_its_own_message(page, server, tmp_path_factory):
    pytest.importorskip("transformers")
    uploader = open_upload_tab(page, server, tmp_path_factory)
    upload(page, uploader, "dot.png", "image/png", png_bytes(1, 1))
    use_image(page, "a dot", "a dot", "0,0,0,0")
    error = page.locator('[data-testid="stAlertContentError"]').filter(has_text="1x1 pixels")
    error.wait_for(timeout=30_000)
    assert "too small" in error.inner_text() and "detector" not in error.inner_text()
