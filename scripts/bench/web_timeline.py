"""The page opening a long session: a 5,000-item Claude session on a real `observer start`, in
Chromium (Debian's, through Playwright) on the loopback, from the tap to its first screen drawn.

The session is written as Claude writes one (tests/support/claude_session.py: b_bash's real
records with new ids; each turn a prompt, an answer, a Bash call, its output of 200-2,000
characters and a closing answer) and its hooks go to the spool; once the server has every item,
a logged-in page opens it `--runs` times:

- tap → first screen: from setting `#/session/<id>` on the live page (the list shown, the
  WebSocket open) to the page's `timeline-shown` mark, set after the frame that draws the
  newest page (subscribe_session with timeline: true → timeline_page → DOM → scrolled to the
  bottom → painted);
- cold link → first screen: a fresh page at the link, from navigation start to the same mark
  (the page's files, the login cookie's fetch, the WebSocket, then the above).

Both at a phone's viewport (390×844) and a desktop's (1280×800). Target (issue 19): ≤ 300 ms.
`--write` rewrites the "## Web: opening a 5,000-item session" section of docs/benchmarks.md.

    .venv/bin/python scripts/bench/web_timeline.py --items 5000 --runs 20 --write
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from playwright.sync_api import Browser, sync_playwright  # noqa: E402

from scripts.bench import rewrite_section, shown_arguments  # noqa: E402
from tests.support.claude_session import ClaudeSession  # noqa: E402
from tests.support.credentials import get_json  # noqa: E402
from tests.support.web import CHROMIUM, login_link, server  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Web: opening a 5,000-item session"
SESSION = "b3c0d6a2-5e1f-4c11-9a7e-000000005000"
VIEWPORTS = {"phone 390×844": (390, 844, True), "desktop 1280×800": (1280, 800, False)}
TARGET_MS = 300.0
WORDS = "parser token stream buffer index column header value record field cache".split()


def write_session(home: Path, spool: Path, items: int, seed: int) -> str:
    """A session of `items` items (5 a turn); the id of the newest item."""
    rng = random.Random(seed)
    claude = ClaudeSession(home, SESSION, "/w/bench", spool)
    records = []
    for turn in range(items // 5):
        call = f"toolu_bench_{turn}"
        output = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 300)))
        records += [
            claude.prompt(f"turn {turn}: " + " ".join(rng.sample(WORDS, 5))),
            claude.text("Looking at " + " ".join(rng.sample(WORDS, 8))),
            claude.tool_use(call, "Bash", {"command": f"grep -rn {rng.choice(WORDS)} src/"}),
            claude.tool_result(call, output.replace(" column", "\ncolumn")),
            claude.text("Done: " + " ".join(rng.sample(WORDS, 10))),
        ]
    claude.write(*records)
    claude.hook("SessionStart")
    claude.hook("UserPromptSubmit", prompt="turn 0")
    return str(records[-1]["uuid"]) + ":0"


def wait_ingested(url: str, data_dir: Path, newest: str, timeout: float = 300) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            page = get_json(f"{url}/api/sessions/{SESSION}/timeline?limit=1", data_dir)
        except OSError:
            page = {}
        if [i.get("item_id") for i in page.get("items", [])] == [newest]:
            return time.monotonic() - started
        time.sleep(0.2)
    raise SystemExit(f"the server never read the session's {newest}")


OPEN = """(hash) => new Promise((done) => {
  performance.clearMarks("timeline-shown");
  const items = document.getElementById("items");
  const t0 = performance.now();
  new MutationObserver((_, watcher) => {
    const mark = performance.getEntriesByName("timeline-shown").pop();
    if (!mark) return;
    watcher.disconnect();
    done([mark.startTime - t0, Number(items.dataset.shown)]);
  }).observe(items, {attributes: true, attributeFilter: ["data-shown"]});
  location.hash = hash;
})"""

SHOWN = """() => new Promise((done) => {
  const check = () => {
    const mark = performance.getEntriesByName("timeline-shown").pop();
    if (mark) done([mark.startTime, Number(document.getElementById("items").dataset.shown)]);
    else setTimeout(check, 5);
  };
  check();
})"""


def measure(
    browser: Browser, url: str, link: str, viewport: tuple[int, int, bool], runs: int
) -> tuple[list[float], list[float], int]:
    width, height, mobile = viewport
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=mobile)
    page = context.new_page()
    page.goto(link)
    page.wait_for_selector("#link[data-state=live]")
    taps: list[float] = []
    colds: list[float] = []
    shown = 0
    for _ in range(runs):
        page.evaluate("location.hash = '#/'")
        page.wait_for_selector("#list-view:not([hidden])")
        elapsed, shown = page.evaluate(OPEN, f"#/session/{SESSION}")
        taps.append(elapsed)
    for _ in range(runs):
        cold = context.new_page()
        cold.goto(f"{url}/#/session/{SESSION}")
        elapsed, shown = cold.evaluate(SHOWN)
        colds.append(elapsed)
        cold.close()
    context.close()
    return taps, colds, shown


def summary(values: Sequence[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{statistics.median(values):.0f} ({min(values):.0f}–{p90:.0f})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--write", action="store_true", help="rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        os.environ.update(
            HOME=str(home),
            CLAUDE_CONFIG_DIR=str(home / ".claude"),
            CODEX_HOME=str(home / ".codex"),
            PI_CODING_AGENT_DIR=str(home / ".pi" / "agent"),
        )
        for name in ("OBSERVER_BIND", "OBSERVER_TOKEN", "OBSERVER_DATA_DIR"):
            os.environ.pop(name, None)
        data_dir = root / "data"
        newest = write_session(home, data_dir / "spool", args.items, args.seed)
        size = next((home / ".claude" / "projects").rglob("*.jsonl")).stat().st_size
        with server(root) as url:
            ingest = wait_ingested(url, data_dir, newest)
            results: dict[str, Any] = {}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM)
                for name, viewport in VIEWPORTS.items():
                    link = login_link(url, data_dir)
                    results[name] = measure(browser, url, link, viewport, args.runs)
                browser.close()

    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    lines = [
        HEADING,
        "",
        f"A {args.items:,}-item Claude session ({size / 1e6:.1f} MB of transcript, read by the"
        f" server in {ingest:.1f} s) opened on the page in Chromium on the loopback, {args.runs}"
        " times each way (`scripts/bench/web_timeline.py`). Milliseconds, median (min–p90):",
        "",
        "| viewport | tap → first screen, ms | cold link → first screen, ms | items drawn |",
        "|---|---:|---:|---:|",
    ]
    verdicts = []
    for name, (taps, colds, shown) in results.items():
        lines.append(f"| {name} | {summary(taps)} | {summary(colds)} | {shown} |")
        tap = statistics.median(taps)
        verdicts.append(
            f"- {name}: tap → first screen within {TARGET_MS:.0f} ms: "
            f"**{'PASS' if tap <= TARGET_MS else 'FAIL'}** ({tap:.0f} ms median)"
        )
    lines += ["", *verdicts, ""]
    lines += [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: machine"
        f" `{platform.system()} {platform.release()}` ({platform.machine()}), nproc"
        f" {os.cpu_count()}, {chromium.strip() or 'Chromium'}, Python {platform.python_version()}.",
        "",
        "Reproduce: `.venv/bin/python scripts/bench/web_timeline.py "
        + " ".join(shown_arguments(list(argv if argv is not None else sys.argv[1:])))
        + "`",
        "",
        "Why it does not grow with the session: the page asks for the newest page only (50"
        " items, the protocol's default) and draws those; older items come a page at a time as"
        " you scroll up. The first screen's cost is one page's JSON and DOM, whatever the"
        " session's length.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        rewrite_section(DOC, HEADING, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
