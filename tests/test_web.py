"""The web front-end (`server/static/`) in headless Chromium.

Two kinds of test:
- against the real server and default model (marker `engine`, session fixture `server`):
  answers arrive as cards while the reply streams, stop aborts the request on the server,
  a wrong API key is reported;
- against `tests/web/fake_server.py`, which serves the same page but scripts the stream, for
  what the real server cannot be made to do on demand: SSE cut at awkward byte boundaries,
  a dropped connection, 429/500 answers and an error chunk mid-stream.

Chromium is Debian's (`apt-get install chromium`), driven by the `playwright` pip package's
Python API; Playwright's own browser download is not used. Without Chromium or Playwright the
tests skip, unless `CI` is set: there they fail, so a broken set-up cannot pass unnoticed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from web.fake_server import SPLIT_ANSWERS, SPLIT_THINKING, FakeServer, split_stream_bytes

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium dials out at start, and this machine's closed
# network refuses those connections (which slows or breaks the launch).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Enough for the default model's enforced reply (at most 3 think/answer pairs, ~250 tokens) on a
# busy 2-core CPU; a hang is what this must catch, not slowness.
REPLY_TIMEOUT_MS = 120_000


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright pip package is not installed (pip install playwright)"
    return None


MISSING = _missing()
# Decided at collection, so that a machine without a browser skips before the session server
# (a ~30 s engine start) is launched for nothing. In CI the tests run and fail instead.
pytestmark = pytest.mark.skipif(
    MISSING is not None and not os.environ.get("CI"), reason=MISSING or "browser available"
)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if MISSING:
        pytest.fail(f"{MISSING}; CI is set, so the browser tests must run")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator:
    # A fresh context per test: its own localStorage, so settings cannot leak between tests.
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def open_page(page, base_url: str, api_key: str | None = None) -> None:
    page.goto(base_url + "/")
    page.wait_for_selector("body[data-ready='true']")
    if api_key:
        page.fill("#api-key", api_key)
        page.dispatch_event("#api-key", "change")  # what leaving the field does: reload models
        page.wait_for_function(
            "document.querySelector('#model').value !== '' "
            "|| !document.querySelector('#models-error').hidden"
        )


def ask(page, question: str) -> None:
    page.fill("#question", question)
    page.click("#send")


def last_turn(page):
    return page.locator("[data-testid='turn']").last


def wait_for_end(page, timeout: float = REPLY_TIMEOUT_MS) -> str:
    """Waits until the newest turn leaves the streaming state; returns the state it reached."""
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=turn]')].at(-1)?.dataset.state "
        "!== 'streaming'",
        timeout=timeout,
    )
    return last_turn(page).get_attribute("data-state")


def metric(server, name: str) -> float | None:
    """Sum of a Prometheus metric over its label sets, or None if the server does not export it."""
    headers = {"Authorization": f"Bearer {server.api_key}"} if server.api_key else {}
    text = httpx.get(f"{server.base_url}/metrics", headers=headers, timeout=10).text
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{[^}}]*\}})?\s+(\S+)")
    values = [float(m.group(1)) for line in text.splitlines() if (m := pattern.match(line))]
    return sum(values) if values else None


# ---------------------------------------------------------------------------------------------
# Against the real server and model.

KK_QUESTION = (
    "A very special island is inhabited only by knights and knaves. Knights always tell the "
    "truth, and knaves always lie. You meet 2 inhabitants: Zoey and Oliver. Zoey said, "
    '"Oliver is a knave." Oliver said, "Zoey and I are both knights." So who is a knight and '
    "who is a knave?\n\nGive the final answer as (1) Name is a knight/knave (2) ... for every "
    "inhabitant."
)

# Records, independently of the page's own bookkeeping, how many complete answer cards were in
# the document while the reply was still streaming (a MutationObserver runs after every change).
WATCH_CARDS = """() => {
  window.cardsWhileStreaming = 0;
  new MutationObserver(() => {
    const turn = [...document.querySelectorAll('[data-testid=turn]')].at(-1);
    if (!turn || turn.dataset.state !== 'streaming') return;
    const n = turn.querySelectorAll('[data-testid=answer][data-state=complete]').length;
    window.cardsWhileStreaming = Math.max(window.cardsWhileStreaming, n);
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                             characterData: true});
}"""


@pytest.mark.engine
def test_answers_arrive_as_cards_while_streaming(server, page):
    open_page(page, server.base_url, server.api_key)
    assert page.locator("#model option").first.get_attribute("value") == server.model
    page.check("#enforce-format")
    page.fill("#max-tokens", "400")
    page.evaluate(WATCH_CARDS)
    ask(page, KK_QUESTION)

    assert wait_for_end(page) == "done", last_turn(page).inner_text()
    turn = last_turn(page)
    assert page.evaluate("window.cardsWhileStreaming") >= 2, "answers were not shown as they came"

    cards = turn.locator("[data-testid='answer'][data-state='complete']")
    count = cards.count()
    assert 2 <= count <= 3  # the server's default enforcement: 2 or 3 think/answer pairs
    for i in range(count):
        label = cards.nth(i).locator("[data-testid='answer-label']").inner_text()
        assert re.search(rf"Answer {i + 1} · \d+\.\d s", label), label
        assert cards.nth(i).locator("[data-testid='answer-text']").inner_text().strip()
    # Only the last answer is the final one, and it is marked as such.
    assert cards.nth(count - 1).get_attribute("data-final") == "true"
    assert "Final answer" in cards.nth(count - 1).inner_text()
    assert turn.locator("[data-final='true']").count() == 1

    # The thinking is there, collapsed until the user opens it.
    thinking = turn.locator("[data-testid='thinking']")
    assert thinking.is_visible()
    assert thinking.get_attribute("open") is None
    assert not turn.locator("[data-testid='thinking-text']").is_visible()
    thinking.locator("summary").click()
    assert turn.locator("[data-testid='thinking-text']").inner_text().strip()
    assert "Done in" in turn.locator("[data-testid='turn-status']").inner_text()


@pytest.mark.engine
def test_stop_aborts_the_request_on_the_server(server, page):
    open_page(page, server.base_url, server.api_key)
    # Unconstrained and long, so the reply would outlast the checks below by far if not aborted.
    page.fill("#max-tokens", "1000")
    ask(page, "Write a long story about a lighthouse keeper, at least twenty paragraphs.")
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=turn]')].at(-1)"
        "?.querySelector('[data-testid=answer], [data-testid=thinking-text] p')",
        timeout=REPLY_TIMEOUT_MS,
    )
    # The request is being generated (what the stop must end), not finished already.
    in_flight = metric(server, "interleaved_requests_in_flight")
    running = metric(server, "vllm:num_requests_running")
    assert in_flight is not None and in_flight >= 1, in_flight
    assert running is not None and running >= 1, running
    page.click("#stop")

    assert wait_for_end(page, timeout=5_000) == "stopped"
    assert "Stopped after" in last_turn(page).locator("[data-testid='turn-status']").inner_text()
    assert page.is_enabled("#send")
    stopped_at = time.monotonic()
    # The server notices the closed connection and aborts the generation: both gauges drop.
    while True:
        in_flight = metric(server, "interleaved_requests_in_flight")
        running = metric(server, "vllm:num_requests_running")
        if in_flight == 0 and running == 0:
            break
        assert time.monotonic() - stopped_at < 10, f"still running: {in_flight=} {running=}"
        time.sleep(0.2)


@pytest.mark.engine
def test_wrong_api_key_is_reported(server, page):
    if not server.api_key:
        pytest.skip("the session server runs without --api-key")
    open_page(page, server.base_url, "wrong-" + server.api_key)
    assert "401" in page.inner_text("#models-error")
    ask(page, "Hello?")
    assert wait_for_end(page) == "error"
    message = last_turn(page).locator("[data-testid='error']").inner_text()
    assert "401" in message and "API key" in message


# ---------------------------------------------------------------------------------------------
# Against the scripted fake server.


# Feeds the page's own SSEParser the stream whole, one byte at a time, and cut at every position.
PARSE_EVERY_SPLIT = """(bytes) => {
  const raw = new Uint8Array(bytes);
  const run = (pieces) => { const p = new SSEParser(); return pieces.flatMap((b) => p.push(b)); };
  const whole = run([raw]);
  const variants = [[...raw].map((b) => new Uint8Array([b]))];
  for (let i = 1; i < raw.length; i++) variants.push([raw.subarray(0, i), raw.subarray(i)]);
  const bad = variants.filter((v) => JSON.stringify(run(v)) !== JSON.stringify(whole));
  return {whole, bad: bad.length};
}"""


def test_stream_parsed_across_chunk_boundaries(page):
    with FakeServer() as fake:
        open_page(page, fake.base_url)
        page.check("#enforce-format")
        page.fill("#api-key", "secret-key")
        page.fill("#temperature", "0.2")
        page.fill("#max-tokens", "64")
        raw = split_stream_bytes()
        parsed = page.evaluate(PARSE_EVERY_SPLIT, list(raw))
        assert parsed["bad"] == 0
        assert parsed["whole"][-1] == "[DONE]"
        # One event per JSON document (one spans two data lines), then [DONE].
        assert len(parsed["whole"]) == raw.count(b"data: {") + 1

        ask(page, "split the stream")
        assert wait_for_end(page, timeout=15_000) == "done"

        turn = last_turn(page)
        texts = turn.locator("[data-testid='answer-text']").all_inner_texts()
        assert texts == list(SPLIT_ANSWERS)
        thoughts = turn.locator("[data-testid='thinking-text'] p").all_text_contents()
        assert thoughts == ["".join(SPLIT_THINKING), "Then Ada lied."]
        finals = turn.locator("[data-final='true'] [data-testid='answer-text']")
        assert finals.all_inner_texts() == [SPLIT_ANSWERS[-1]]
        assert "20 tokens (12 thinking)" in turn.locator("[data-testid='turn-status']").inner_text()

        body = fake.requests[-1]
        assert body["stream"] is True and body["enforce_format"] is True
        assert body["model"] == "fake-model"
        assert body["temperature"] == 0.2 and body["max_tokens"] == 64
        assert body["messages"] == [{"role": "user", "content": "split the stream"}]
        assert fake.headers[-1]["Authorization"] == "Bearer secret-key"
        # Not asked to remember it, so the key stays out of persistent storage.
        assert "secret-key" not in page.evaluate("JSON.stringify(localStorage)")

        # The finished exchange becomes context for the next question (answers joined by "\n\n").
        ask(page, "split again")
        assert wait_for_end(page, timeout=15_000) == "done"
        assert fake.requests[-1]["messages"][:2] == [
            {"role": "user", "content": "split the stream"},
            {"role": "assistant", "content": "\n\n".join(SPLIT_ANSWERS)},
        ]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("busy now", ["429", "too many requests in flight", "7 s"]),
        ("broken request", ["500", "internal failure", "req-fake"]),
        ("errorchunk please", ["engine exploded"]),
        ("drop the line", ["closed before the reply finished"]),
    ],
)
def test_errors_are_shown(page, question, expected):
    with FakeServer() as fake:
        open_page(page, fake.base_url)
        ask(page, question)
        assert wait_for_end(page, timeout=15_000) == "error"
        message = last_turn(page).locator("[data-testid='error']").inner_text()
        for part in expected:
            assert part in message
        # The page is usable again, not stuck in a pending state.
        assert page.is_enabled("#send") and not page.is_enabled("#stop")
        if question.startswith("errorchunk"):
            # What arrived before the error stays on the page.
            texts = last_turn(page).locator("[data-testid='answer-text']").all_inner_texts()
            assert texts == ["Partial answer."]
