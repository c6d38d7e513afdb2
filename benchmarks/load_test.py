"""Load test: N browser sessions click through the app at once against a server this script starts.

It starts ``streamlit run app.py`` itself on 127.0.0.1 (a free port, loopback only), opens N
pages in one headless chromium (Debian's /usr/bin/chromium) and lets each session do random
realistic actions until the time is up: open a gallery example, pick a phrase, switch the
displayed condition (including clicking the one already shown), move the threshold, change
the overlap measure, a new random scene, the whole-set view and back. Meanwhile it polls the
server's health endpoint and its resident memory (RSS, from /proc, the server and its
children). It reports:

- errors: tracebacks on a page (``stException``), "internal error" messages, actions that time out;
- latency percentiles per action (click to the end of the rerun);
- the server's health (failed or slow health checks) and RSS over time.

    HF_HUB_OFFLINE=1 python benchmarks/load_test.py --sessions 8 --minutes 5 --out load.json

Exit status 1 when any error was seen or the server was unhealthy. Everything is bounded in
time: each action by ``--action-timeout``, the whole run by ``--minutes`` plus a grace period.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
CLICK_MS = 30_000  # how long a click may wait for its element (a loaded machine is slow to paint)
BUSY = '[data-testid="stStatusWidget"], [data-testid="stSkeleton"], [data-stale="true"]'
ERRORS = """() => {
  const found = [...document.querySelectorAll('[data-testid="stException"]')].map(e => e.innerText.slice(0, 300));
  for (const e of document.querySelectorAll('[data-testid="stAlertContentError"]')) {
    if (/internal error/i.test(e.innerText)) found.push(e.innerText.slice(0, 300));
  }
  return found;
}"""
WAITED = "() => document.body.innerText.includes('for another whole-set run')"  # the server's one-at-a-time slot


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int, children: bool = True) -> float:
    """Resident memory of ``pid`` (and its descendants), MB (from /proc; memory that processes
    share is counted in each)."""
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
        if children:
            todo.extend(kids.get(current, []))
    return total / 1024


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Server:
    """``streamlit run app.py`` on 127.0.0.1 at a free port, logging to ``log``."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = open(log, "w")  # noqa: SIM115 (closed in stop)
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 90
        while not self.healthy():
            if self.process.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"streamlit did not start; see {log}")
            time.sleep(0.3)

    def healthy(self, timeout: float = 10.0) -> bool:
        try:
            with urllib.request.urlopen(self.url + "_stcore/health", timeout=timeout) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


# ---------------------------------------------------------------- what a user does
async def wait_idle(page, timeout_ms: int) -> None:
    await page.wait_for_timeout(250)
    await page.wait_for_function(f"() => !document.querySelector('{BUSY}')", timeout=timeout_ms)


async def click_option(page, key: str) -> str:
    options = page.locator(f".st-key-{key}:visible").get_by_role("radio")
    count = await options.count()
    if not count:
        options = page.locator(f".st-key-{key}:visible button")
        count = await options.count()
    if not count:
        return "skipped"
    await options.nth(random.randrange(count)).click(force=True, timeout=CLICK_MS)
    return "clicked"


async def open_picker(page) -> None:
    """Unfold "Pick an example" (the gallery and the random-scene button live in it)."""
    if not await page.locator('[class*="st-key-open_"] button').first.is_visible():
        header = page.locator('[data-testid="stExpander"] summary').filter(has_text="Pick an example")
        if await header.count():
            await header.first.click(timeout=CLICK_MS)
            await page.wait_for_timeout(300)


async def gallery(page) -> str:
    await open_picker(page)
    buttons = page.locator('[class*="st-key-open_"] button:visible')  # not a stale copy mid-rerun
    count = await buttons.count()
    if not count or not await buttons.first.is_visible():
        return "skipped"
    await buttons.nth(random.randrange(count)).click(timeout=CLICK_MS)
    return "clicked"


async def random_scene(page) -> str:
    await open_picker(page)
    button = page.get_by_role("button", name="New random scene")
    if not await button.count() or not await button.first.is_visible():
        return "skipped"
    await button.first.click(timeout=CLICK_MS)
    return "clicked"


async def threshold(page) -> str:
    slider = page.locator('.st-key-threshold input[type="range"]')
    if not await slider.count():
        return "skipped"
    await slider.focus(timeout=CLICK_MS)
    await page.keyboard.press(random.choice(["ArrowLeft", "ArrowRight"]))
    return "clicked"


async def view(page, name: str) -> str:
    await page.locator(".st-key-view label").filter(has_text=name).first.click(timeout=CLICK_MS)
    return "clicked"


ACTIONS = {  # name: (weight, coroutine)
    "gallery": (3, gallery),
    "phrase": (3, lambda page: click_option(page, "phrase")),
    "vis4lang": (4, lambda page: click_option(page, "vis4lang")),
    "lang4vis": (3, lambda page: click_option(page, "lang4vis")),
    "threshold": (2, threshold),
    "overlap": (1, lambda page: click_option(page, "alignment")),
    "random scene": (1, random_scene),
    "whole set": (1, lambda page: view(page, "Whole set")),
    "one example": (2, lambda page: view(page, "One example")),
}


async def session(number: int, browser, url: str, deadline: float, args, report: dict) -> None:
    rng = random.Random(args.seed + number)
    names = list(ACTIONS)
    weights = [ACTIONS[name][0] for name in names]
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    page.set_default_timeout(args.action_timeout * 1000)
    try:
        start = time.time()
        await page.goto(url, timeout=args.action_timeout * 1000)
        await page.wait_for_selector('[data-testid="stMetric"], [data-testid="stAlert"]',
                                     timeout=args.action_timeout * 1000)
        await wait_idle(page, args.action_timeout * 1000)
        report["latency"].setdefault("first page", []).append(time.time() - start)
        while time.time() < deadline:
            name = rng.choices(names, weights)[0]
            start = time.time()
            try:
                if await ACTIONS[name][1](page) == "skipped":
                    continue
                await wait_idle(page, args.action_timeout * 1000)
            except Exception as error:  # a timeout or a vanished element: counted, the session goes on
                report["failed actions"].append({"session": number, "action": name,
                                                 "error": f"{type(error).__name__}: {str(error)[:200]}"})
                with_reload = True
            else:
                report["latency"].setdefault(name, []).append(time.time() - start)
                with_reload = False
                if await page.evaluate(WAITED):
                    report["waited for the whole-set slot"].append({"session": number, "action": name})
            for text in await page.evaluate(ERRORS):
                report["errors"].append({"session": number, "after": name, "text": text,
                                         "url": page.url})
                with_reload = True
            if with_reload:  # start the session over, as a user would
                await page.goto(url, timeout=args.action_timeout * 1000)
                await wait_idle(page, args.action_timeout * 1000)
            await page.wait_for_timeout(rng.uniform(200, 1500))  # a user reads
    except Exception as error:
        report["failed actions"].append({"session": number, "action": "session",
                                         "error": f"{type(error).__name__}: {str(error)[:200]}"})
    finally:
        await context.close()


async def monitor(server: Server, deadline: float, report: dict) -> None:
    start = time.time()
    while time.time() < deadline:
        t0 = time.time()
        healthy = await asyncio.to_thread(server.healthy)
        report["health"].append({"t": round(t0 - start, 1), "ok": healthy, "s": round(time.time() - t0, 3),
                                 "rss_mb": round(rss_mb(server.process.pid), 1),
                                 "server_rss_mb": round(rss_mb(server.process.pid, children=False), 1),
                                 "load": round(os.getloadavg()[0], 2)})
        await asyncio.sleep(max(0.0, 5 - (time.time() - t0)))


async def run(args) -> dict:
    from playwright.async_api import async_playwright

    log = ROOT / "test-artifacts" / "load_test_server.log"
    log.parent.mkdir(exist_ok=True)
    server = Server(log)
    report: dict = {"sessions": args.sessions, "minutes": args.minutes, "latency": {}, "errors": [],
                    "failed actions": [], "health": [], "waited for the whole-set slot": []}
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            deadline = time.time() + args.minutes * 60
            tasks = [session(n, browser, server.url, deadline, args, report) for n in range(args.sessions)]
            await asyncio.wait_for(asyncio.gather(monitor(server, deadline, report), *tasks),
                                   timeout=args.minutes * 60 + 3 * args.action_timeout)
            await browser.close()
        report["server alive at the end"] = server.process.poll() is None and server.healthy()
    finally:
        server.stop()
    with open(log) as handle:
        report["tracebacks in the server log"] = handle.read().count("Uncaught app exception")
    return report


def summary(report: dict) -> str:
    lines = [f"{report['sessions']} sessions x {report['minutes']} min"]
    lines.append("| action | n | p50 s | p90 s | p99 s | max s |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    everything = []
    for name, values in sorted(report["latency"].items()):
        everything += values if name != "first page" else []
        lines.append(f"| {name} | {len(values)} | {percentile(values, 50):.2f} | {percentile(values, 90):.2f} | "
                     f"{percentile(values, 99):.2f} | {max(values):.2f} |")
    lines.append(f"| all actions | {len(everything)} | {percentile(everything, 50):.2f} | "
                 f"{percentile(everything, 90):.2f} | {percentile(everything, 99):.2f} | "
                 f"{max(everything, default=float('nan')):.2f} |")
    health = report["health"]
    rss = [h["rss_mb"] for h in health]
    loads = [h["load"] for h in health]
    third = max(1, len(rss) // 3)
    lines.append(f"errors on pages: {len(report['errors'])}; failed actions: {len(report['failed actions'])}; "
                 f"tracebacks in the server log: {report['tracebacks in the server log']}; actions that waited "
                 f"for another session's whole-set run: {len(report['waited for the whole-set slot'])}")
    lines.append(f"health checks: {sum(h['ok'] for h in health)} of {len(health)} ok, slowest "
                 f"{max((h['s'] for h in health), default=0):.2f} s; server alive at the end: "
                 f"{report['server alive at the end']}")
    if rss:
        lines.append(f"server RSS MB: start {rss[0]:.0f}, max {max(rss):.0f}, end {rss[-1]:.0f}; "
                     f"median of the middle third {statistics.median(rss[third:2 * third] or rss):.0f}, "
                     f"of the last third {statistics.median(rss[2 * third:] or rss):.0f}")
        own = [h["server_rss_mb"] for h in health]
        lines.append(f"of which the server process alone: start {own[0]:.0f}, max {max(own):.0f}, end {own[-1]:.0f}")
        lines.append(f"load average (1 min): median {statistics.median(loads):.1f}, max {max(loads):.1f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=8, help="browser sessions at once (default 8)")
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the sessions click (default 5)")
    parser.add_argument("--action-timeout", type=float, default=120.0,
                        help="seconds one action may take before it counts as failed (default 120)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the full report (JSON) here")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.minutes <= 0 or args.action_timeout <= 0:
        parser.error("--sessions, --minutes and --action-timeout must be positive")
    global CLICK_MS
    CLICK_MS = int(min(CLICK_MS, args.action_timeout * 1000))
    if not Path(CHROMIUM).exists():
        parser.error(f"{CHROMIUM} is missing; install Debian's chromium")
    random.seed(args.seed)
    report = asyncio.run(run(args))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    print(summary(report))
    for problem in (report["errors"] + report["failed actions"])[:20]:
        print("  ", problem)
    bad = report["errors"] or report["tracebacks in the server log"] or not report["server alive at the end"] \
        or not all(h["ok"] for h in report["health"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
