"""Where the browser's time goes in the app: for each action `bench_app.py` times (first page, a new
example, the four condition switches), the seconds until the page settled, the bytes the server
sent over the websocket, how many plotly charts the browser drew anew, and the main thread's
JavaScript time by bundle (Chrome DevTools Protocol CPU profile, sampled every 0.2 ms).

And, with --figures, plotly.js alone (the plotly.min.js of the installed plotly package, no
Streamlit): the milliseconds `Plotly.newPlot` takes for the image figure as the app draws it
(region and phrase outlines as layout shapes), the same outlines as a few scatter line traces,
and no outlines at all, and for the two Language-tab figures.

Usage:
  HF_HUB_OFFLINE=1 python benchmarks/profile_app.py --repeats 2
  HF_HUB_OFFLINE=1 python benchmarks/profile_app.py --figures
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_app  # noqa: E402  (its Server, browser flags and switches)

SETTLED = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
MARK_CHARTS = "() => document.querySelectorAll('.js-plotly-plot').forEach(e => e.dataset.vlxSeen = '1')"
NEW_CHARTS = "() => [...document.querySelectorAll('.js-plotly-plot')].filter(e => !e.dataset.vlxSeen).length"
BUCKETS = (("PlotlyChart", "plotly"), ("react-dom", "react"), ("(program)", "native"),
           ("(garbage collector)", "GC"), ("(idle)", "idle"))


def js_time(profile: dict) -> dict[str, float]:
    """Self time in ms by bundle: plotly, react, native (layout, style, paint), GC, idle, other;
    and the profiled window (from the profiler's start to its stop: a little longer than the action)."""
    out: dict[str, float] = collections.Counter(profiled=(profile["endTime"] - profile["startTime"]) / 1000)
    frames = {node["id"]: node["callFrame"] for node in profile["nodes"]}
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        frame = frames[sample]
        where = frame["url"] or frame["functionName"]
        out[next((name for part, name in BUCKETS if part in where), "other")] += delta / 1000
    return out


def profile_server(root: Path, repeats: int) -> dict:
    """{action: [{"seconds", "ws bytes", "charts drawn", bucket: ms}]} over ``repeats`` fresh tabs."""
    from playwright.sync_api import sync_playwright

    server = bench_app.Server(root, "app.py")
    ids = bench_app.example_ids("demo", "demo")
    url = f"http://127.0.0.1:{server.port}/?model=demo&dataset=demo"
    metric = '[data-testid="stMetric"]:has-text("{}")'
    shown = metric.format("MLM loss")
    received: list[int] = []
    out: dict[str, list[dict]] = collections.defaultdict(list)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=bench_app.CHROMIUM, args=bench_app.ARGS)
            for attempt in range(repeats):
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.on("websocket", lambda ws: ws.on("framereceived", lambda m: received.append(len(m))))
                cdp = page.context.new_cdp_session(page)
                cdp.send("Profiler.enable")
                cdp.send("Profiler.setSamplingInterval", {"interval": 200})

                def measure(name, action, answer, page=page, cdp=cdp):
                    if page.url.startswith("http"):
                        page.evaluate(MARK_CHARTS)
                    sent = len(received)
                    cdp.send("Profiler.start")
                    start = time.perf_counter()
                    action()
                    answer()
                    page.wait_for_function(SETTLED, timeout=120_000)
                    page.evaluate(TWO_FRAMES)
                    seconds = time.perf_counter() - start
                    row = {"seconds": seconds, "ws bytes": sum(received[sent:]),
                           "charts drawn": page.evaluate(NEW_CHARTS)}
                    out[name].append(row | js_time(cdp.send("Profiler.stop")["profile"]))

                target = ids[(1 + attempt) % len(ids)]  # as bench_app: a gallery click when it shows one
                measure("first page", lambda page=page: page.goto(url),
                        lambda page=page: page.wait_for_selector(shown, timeout=120_000))
                page.get_by_text("Pick an example", exact=False).first.click()
                page.wait_for_function(SETTLED, timeout=120_000)
                button = page.locator(f".st-key-open_{target} button").first
                address = url + f"&example={target}"
                measure("new example",
                        lambda b=button, page=page, a=address: b.click() if b.count() else page.goto(a),
                        lambda page=page: page.wait_for_selector(shown, timeout=120_000))
                for key, option, label in bench_app.SWITCHES:
                    radio = page.locator(f".st-key-{key}").get_by_role("radio", name=option, exact=True)
                    answer = metric.format(label)
                    measure(f"switch to {label}", radio.click,
                            lambda page=page, answer=answer: page.wait_for_selector(answer, timeout=60_000))
                page.close()
            browser.close()
    finally:
        server.close()
    return out


def profile_figures(repeats: int) -> dict[str, tuple[float, int]]:
    """{figure: (median ms of Plotly.newPlot until two frames are painted, DOM nodes)}."""
    import plotly
    import plotly.graph_objects as go
    from playwright.sync_api import sync_playwright

    from vlexplore.engine import diagnose
    from vlexplore.views import figures, overlay, sources

    example = sources.load_dataset("demo").examples[1]
    diagnosis = diagnose(sources.load_model("demo"), example, (example.diagnosable_phrases() or [0])[0],
                         all_regions=True)
    image = overlay.example_image(example)
    figs: dict[str, go.Figure] = {}
    for shown in ("object", "all"):
        fig = overlay.image_figure(image, example.phrases, 0, diagnosis.unit_boxes,
                                   diagnosis.ablated[("vis4lang", shown)], diagnosis.alignment.target,
                                   selectable=True)
        lines = go.Figure(fig)
        styles: dict[tuple, tuple[list, list]] = {}
        for shape in fig.layout.shapes:  # one trace per line style, rectangles joined by gaps
            xs, ys = styles.setdefault((shape.line.color, shape.line.width, shape.line.dash), ([], []))
            xs += [shape.x0, shape.x1, shape.x1, shape.x0, shape.x0, None]
            ys += [shape.y0, shape.y0, shape.y1, shape.y1, shape.y0, None]
        for (colour, width, dash), (xs, ys) in styles.items():
            lines.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
                                       line=dict(color=colour, width=width, dash=dash)))
        lines.layout.shapes = []
        bare = go.Figure(fig)
        bare.layout.shapes = []
        figs |= {f"image, {shown}: {len(fig.layout.shapes)} shapes": fig,
                 f"image, {shown}: {len(styles)} line traces": lines, f"image, {shown}: no outlines": bare}
    figs |= {"tokens": figures.token_figure(diagnosis), "top predictions": figures.topk_figure(diagnosis)}
    plotly_js = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text()
    draw = """async (spec) => { const div = document.getElementById('plot'); Plotly.purge(div);
      const start = performance.now(); await Plotly.newPlot(div, spec.data, spec.layout, {displaylogo: false});
      await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
      return [performance.now() - start, div.querySelectorAll('*').length]; }"""
    times: dict[str, list] = collections.defaultdict(list)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=bench_app.CHROMIUM, args=bench_app.ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_content("<div id=plot style='width:640px'></div>")
        page.add_script_tag(content=plotly_js)
        for attempt in range(repeats + 1):  # the first round warms plotly.js up
            for name, fig in figs.items():
                result = page.evaluate(draw, json.loads(fig.to_json()))
                if attempt:
                    times[name].append(result)
        browser.close()
    return {name: (statistics.median(t for t, _ in rows), rows[0][1]) for name, rows in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=bench_app.ROOT, help="the checkout whose app is served")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--figures", action="store_true", help="plotly.js alone: newPlot of the app's figures")
    args = parser.parse_args()
    sys.path.insert(0, str(bench_app.ROOT))
    load = bench_app.LoadAverage()
    if args.figures:
        print("| figure | Plotly.newPlot, median | DOM nodes |\n|---|---|---|")
        for name, (ms, nodes) in profile_figures(max(args.repeats, 5)).items():
            print(f"| {name} | {ms:.0f} ms | {nodes} |")
    else:
        columns = ["seconds", "ws bytes", "charts drawn", "profiled"] + [name for _, name in BUCKETS] + ["other"]
        print("| action | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns))
        for action, rows in profile_server(args.root.resolve(), args.repeats).items():
            cells = []
            for column in columns:
                value = statistics.median(row.get(column, 0) for row in rows)
                cells.append(f"{value:.2f} s" if column == "seconds" else
                             f"{value / 1000:.0f} kB" if column == "ws bytes" else
                             f"{value:.0f}" if column == "charts drawn" else f"{value:.0f} ms")
            print(f"| {action} | " + " | ".join(cells) + " |")
        print("\nmedian over the repeats (each a fresh tab); the columns after `profiled` (the CPU profile's "
              "window) split it by main-thread self time: JavaScript by bundle, native = the renderer's own "
              "work outside JavaScript (style, layout, paint, IPC), idle = waiting (for the server).")
    print(load.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
