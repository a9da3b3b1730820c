// The web front-end of the interleaved-reasoning server, and its reference streaming client.
//
// It reads only the documented fields of the wire contract: delta.reasoning (thinking),
// delta.content (answer text), delta.answer_complete (one answer finished), finish_reason,
// usage, and the {"error": ...} chunk. Plain script, no build step, no dependencies.
"use strict";

const API = {
  // Relative, so the page keeps working behind a reverse proxy that mounts the server under a
  // path prefix (the page is served at the server's "/").
  models: "v1/models",
  chat: "v1/chat/completions",
};
const SETTINGS_KEY = "interleaved-ui.settings";
const API_KEY_KEY = "interleaved-ui.api-key";

const EXAMPLE_QUESTION =
  "A very special island is inhabited only by knights and knaves. Knights always tell the " +
  "truth, and knaves always lie. You meet 3 inhabitants: Mason, Caleb and Nora. Mason stated, " +
  '"Caleb is a knave." Caleb told you, "Nora is a knight if and only if Caleb is a knight." ' +
  'Nora said, "Caleb is a knave and Mason is a knight." So who is a knight and who is a ' +
  "knave?\n\nGive the final answer as (1) Name is a knight/knave (2) ... for every inhabitant.";

// ---------------------------------------------------------------------------------------------
// Server-sent events over fetch. EventSource cannot POST, so the stream is parsed here. A read()
// may end anywhere: inside a line, between "\r" and "\n", or inside a multi-byte character
// (TextDecoder with {stream: true} handles that one), so incomplete lines wait in a buffer.

class SSEParser {
  constructor() {
    this.decoder = new TextDecoder();
    this.buffer = "";
    this.data = [];
  }

  /** Feed bytes from the stream; returns the data payloads of the events they completed. */
  push(bytes) {
    this.buffer += this.decoder.decode(bytes, { stream: true });
    const events = [];
    const eol = /\r\n|\r|\n/g;
    let start = 0;
    let match;
    while ((match = eol.exec(this.buffer)) !== null) {
      // A "\r" at the very end may be the first half of "\r\n": decide once more text arrives,
      // or the "\n" would later be read as an empty line and end the event early.
      if (match[0] === "\r" && match.index === this.buffer.length - 1) break;
      this.line(this.buffer.slice(start, match.index), events);
      start = eol.lastIndex;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  line(line, events) {
    if (line === "") {
      // A blank line ends the event; multi-line data is joined with "\n" (the SSE rule).
      if (this.data.length > 0) events.push(this.data.join("\n"));
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return; // a comment, e.g. a keep-alive ping
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    // "event", "id" and "retry" carry nothing this API uses.
  }
}

// ---------------------------------------------------------------------------------------------
// Settings. Everything stays in this browser: the API key lives in memory unless the user asks
// to remember it, and then only in localStorage (never in a cookie, so it is not sent around).

const el = {};
let apiKeyInMemory = "";

function storage() {
  // Storage can be disabled (privacy settings) and then throws on access.
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

function loadSettings() {
  const store = storage();
  let saved = {};
  try {
    saved = JSON.parse(store?.getItem(SETTINGS_KEY) ?? "{}") ?? {};
  } catch {
    saved = {};
  }
  if (typeof saved.temperature === "string") el.temperature.value = saved.temperature;
  if (typeof saved.maxTokens === "string") el.maxTokens.value = saved.maxTokens;
  if (typeof saved.showThinking === "boolean") el.showThinking.checked = saved.showThinking;
  if (typeof saved.enforceFormat === "boolean") el.enforceFormat.checked = saved.enforceFormat;
  el.model.dataset.wanted = typeof saved.model === "string" ? saved.model : "";
  const rememberedKey = store?.getItem(API_KEY_KEY);
  if (rememberedKey) {
    el.rememberKey.checked = true;
    el.apiKey.value = rememberedKey;
  }
  apiKeyInMemory = el.apiKey.value;
}

function saveSettings() {
  const store = storage();
  if (!store) return;
  const settings = {
    model: el.model.value,
    temperature: el.temperature.value,
    maxTokens: el.maxTokens.value,
    showThinking: el.showThinking.checked,
    enforceFormat: el.enforceFormat.checked,
  };
  try {
    store.setItem(SETTINGS_KEY, JSON.stringify(settings));
    if (el.rememberKey.checked && apiKeyInMemory) store.setItem(API_KEY_KEY, apiKeyInMemory);
    else store.removeItem(API_KEY_KEY);
  } catch {
    // Quota or privacy mode: the settings still apply to this tab.
  }
}

function authHeaders() {
  return apiKeyInMemory ? { Authorization: `Bearer ${apiKeyInMemory}` } : {};
}

// ---------------------------------------------------------------------------------------------
// Errors: every failure ends up as a sentence on the page, never as a spinner that never stops.

class DisplayError extends Error {}

async function describeHttpError(response) {
  let detail = "";
  try {
    const body = await response.json();
    detail = body?.error?.message ?? "";
  } catch {
    // Not JSON (e.g. a proxy's HTML page): the status line has to do.
  }
  // "What happened: the server's words. What to do." plus the id that finds it in the logs.
  const said = detail ? `: ${detail.replace(/\.$/, "")}.` : ".";
  const requestId = response.headers.get("X-Request-Id");
  const ref = requestId ? ` (request ${requestId})` : "";
  if (response.status === 401) {
    return `Not authorized (401)${said} Check the API key in Settings.${ref}`;
  }
  if (response.status === 429) {
    const retry = response.headers.get("Retry-After");
    const when = retry ? `Try again in ${retry} s.` : "Try again shortly.";
    return `The server is busy (429)${said} ${when}${ref}`;
  }
  return `The server answered ${response.status}${said}${ref}`;
}

async function loadModels() {
  el.modelsError.hidden = true;
  let models;
  try {
    const response = await fetch(API.models, { headers: authHeaders() });
    if (!response.ok) throw new DisplayError(await describeHttpError(response));
    models = (await response.json()).data ?? [];
  } catch (err) {
    const message =
      err instanceof DisplayError ? err.message : `Could not reach the server (${err.message}).`;
    el.modelsError.textContent = `Could not list the models. ${message}`;
    el.modelsError.hidden = false;
    models = [];
  }
  const wanted = el.model.value || el.model.dataset.wanted;
  el.model.replaceChildren();
  if (models.length === 0) {
    // Leave "model" out of the request; the server's answer will say what is wrong.
    el.model.append(new Option("(server default)", ""));
    return;
  }
  for (const model of models) el.model.append(new Option(model.id, model.id));
  if (models.some((m) => m.id === wanted)) el.model.value = wanted;
}

// ---------------------------------------------------------------------------------------------
// One question and its streamed reply.

function announce(text) {
  document.getElementById("announcer").textContent = text;
}

function seconds(ms) {
  return (ms / 1000).toFixed(1);
}

function countWords(text) {
  const words = text.trim().split(/\s+/);
  return words[0] === "" ? 0 : words.length;
}

class TurnView {
  constructor(question) {
    const node = document.getElementById("turn-template").content.firstElementChild.cloneNode(true);
    this.node = node;
    this.q = (id) => node.querySelector(`[data-testid="${id}"]`);
    this.q("turn-question").textContent = question;
    this.thinking = this.q("thinking");
    this.thinkingText = this.q("thinking-text");
    this.thinkingLabel = this.q("thinking-label");
    this.answers = this.q("answers");
    this.status = this.q("turn-status");
    this.thoughtWords = 0;
    this.thoughtNode = null; // text node of the current think segment
    this.draft = null; // the answer card being written
    this.cards = [];
    this.content = "";
    this.finishReason = null;
    this.usage = null;
    this.started = performance.now();
    this.setStatus("Waiting for the server…");
  }

  elapsed() {
    return performance.now() - this.started;
  }

  setStatus(text) {
    this.status.textContent = text;
  }

  addReasoning(text) {
    if (!this.thoughtNode) {
      // A new think segment: the first one, or one after an answer.
      const paragraph = document.createElement("p");
      this.thoughtNode = document.createTextNode("");
      paragraph.append(this.thoughtNode);
      this.thinkingText.append(paragraph);
      this.thinking.hidden = false;
    }
    // A segment's leading blank lines are layout, not thought.
    this.thoughtNode.appendData(this.thoughtNode.length === 0 ? text.trimStart() : text);
    this.thoughtWords = countWords(this.thinkingText.textContent);
    this.thinkingLabel.textContent = `Thinking… (${this.thoughtWords} words)`;
    this.setStatus("Thinking…");
  }

  newCard() {
    const card = document.createElement("li");
    card.className = "answer";
    card.dataset.testid = "answer";
    card.dataset.state = "writing";
    const label = document.createElement("h3");
    label.className = "answer-label";
    label.dataset.testid = "answer-label";
    const text = document.createElement("div");
    text.className = "answer-text";
    text.dataset.testid = "answer-text";
    card.append(label, text);
    label.textContent = `Answer ${this.cards.length + 1} · writing…`;
    this.answers.append(card);
    return card;
  }

  addContent(text) {
    this.content += text;
    if (!this.draft) {
      this.draft = this.newCard();
      this.draft.rawText = "";
    }
    this.thoughtNode = null;
    this.draft.rawText += text;
    // The "\n\n" that separates answers in the content stream is not part of the answer.
    this.draft.querySelector(".answer-text").textContent = this.draft.rawText.trimStart();
    this.setStatus(`Writing answer ${this.cards.length + 1}…`);
  }

  completeAnswer(done) {
    const card = this.draft ?? this.newCard();
    this.draft = null;
    this.thoughtNode = null;
    const number = (Number.isInteger(done.index) ? done.index : this.cards.length) + 1;
    const secs = seconds(this.elapsed());
    card.dataset.state = "complete";
    card.dataset.index = String(number - 1);
    card.dataset.seconds = secs;
    card.setAttribute("aria-label", `Answer ${number}, after ${secs} seconds`);
    card.querySelector(".answer-label").textContent =
      `Answer ${number} · ${secs} s` + (done.complete === false ? " · unfinished" : "");
    if (typeof done.text === "string") card.querySelector(".answer-text").textContent = done.text;
    if (typeof done.elapsed_ms === "number") {
      card.title = `Server: ${seconds(done.elapsed_ms)} s after the request, ` +
        `${done.token_offset} tokens into the reply`;
    }
    this.cards.push(card);
    this.setStatus(`Answer ${number} arrived after ${secs} s. Still working…`);
    announce(`Answer ${number} after ${secs} seconds: ` +
      card.querySelector(".answer-text").textContent);
  }

  handleChunk(chunk) {
    if (chunk.error) {
      const e = chunk.error;
      throw new DisplayError(`The server reported an error mid-stream: ${e.message ?? "unknown"}` +
        (e.code ? ` (${e.code})` : ""));
    }
    if (chunk.usage) this.usage = chunk.usage;
    const choice = chunk.choices?.[0];
    if (!choice) return;
    const delta = choice.delta ?? {};
    // reasoning_content is the same text under vLLM's older name (server flag
    // --reasoning-content-field sends both); take one of them, never both.
    const reasoning = delta.reasoning ?? delta.reasoning_content;
    if (typeof reasoning === "string" && reasoning) this.addReasoning(reasoning);
    if (typeof delta.content === "string" && delta.content) this.addContent(delta.content);
    if (delta.answer_complete) this.completeAnswer(delta.answer_complete);
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
  }

  endThinking() {
    if (this.thoughtWords > 0) {
      this.thinkingLabel.textContent = `Thinking (${this.thoughtWords} words)`;
    }
  }

  closeDraft(note) {
    if (!this.draft) return;
    this.draft.dataset.state = "interrupted";
    this.draft.querySelector(".answer-label").textContent =
      `Answer ${this.cards.length + 1} · ${note}`;
    this.draft = null;
  }

  finish() {
    this.endThinking();
    this.closeDraft("cut off");
    const total = seconds(this.elapsed());
    const last = this.cards.at(-1);
    if (last) {
      // The last answer of a finished reply is the final answer.
      last.classList.add("final");
      last.dataset.final = "true";
      const label = last.querySelector(".answer-label");
      label.textContent = `Final answer · ${label.textContent}`;
    }
    const n = this.cards.length;
    const parts = [`Done in ${total} s`, `${n} ${n === 1 ? "answer" : "answers"}`];
    if (this.usage) {
      const thinking = this.usage.completion_tokens_details?.reasoning_tokens;
      parts.push(`${this.usage.completion_tokens} tokens` +
        (typeof thinking === "number" ? ` (${thinking} thinking)` : ""));
    }
    if (this.finishReason === "length") parts.push("stopped at the max-tokens limit");
    else if (this.finishReason === "abort") parts.push("the server aborted the generation");
    else if (this.finishReason === "error") parts.push("the server reported an error");
    if (!last) parts.push("no answer was given");
    this.setStatus(parts.join(" · ") + ".");
    this.node.dataset.state = "done";
    announce(last
      ? `Final answer: ${last.querySelector(".answer-text").textContent}`
      : parts.join(", "));
  }

  stopped() {
    this.endThinking();
    this.closeDraft("stopped");
    this.setStatus(`Stopped after ${seconds(this.elapsed())} s.`);
    announce(this.status.textContent);
    this.node.dataset.state = "stopped";
  }

  failed(message) {
    this.endThinking();
    this.closeDraft("interrupted");
    const alert = document.createElement("p");
    alert.className = "error";
    alert.dataset.testid = "error";
    alert.setAttribute("role", "alert");
    alert.textContent = message;
    this.status.before(alert);
    this.setStatus(`Failed after ${seconds(this.elapsed())} s.`);
    this.node.dataset.state = "error";
  }
}

// ---------------------------------------------------------------------------------------------
// The request.

let history = []; // earlier turns that finished, as chat messages
let current = null; // {controller, view} while a reply streams

function requestBody(question) {
  const body = {
    messages: [...history, { role: "user", content: question }],
    stream: true,
    stream_options: { include_usage: true },
  };
  if (el.model.value) body.model = el.model.value;
  const temperature = Number.parseFloat(el.temperature.value);
  if (Number.isFinite(temperature)) body.temperature = temperature;
  const maxTokens = Number.parseInt(el.maxTokens.value, 10);
  if (Number.isInteger(maxTokens)) body.max_tokens = maxTokens;
  // Our extension; sent only when wanted, so the page also talks to plain OpenAI servers.
  if (el.enforceFormat.checked) body.enforce_format = true;
  return body;
}

// fetch and read() reject with a TypeError when the connection fails or drops mid-body. Only
// those two calls are wrapped, so that a bug in this file is not reported as a network fault.
async function network(promise, what) {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof TypeError) throw new DisplayError(`${what} (${err.message}).`);
    throw err; // AbortError from the stop button, handled by the caller
  }
}

async function streamReply(view, body, signal) {
  const response = await network(fetch(API.chat, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...authHeaders() },
    body: JSON.stringify(body),
    signal,
  }), "Could not reach the server");
  if (!response.ok) throw new DisplayError(await describeHttpError(response));
  const type = response.headers.get("Content-Type") ?? "";
  if (!type.startsWith("text/event-stream")) {
    throw new DisplayError(`Expected an event stream, got "${type || "no content type"}".`);
  }
  view.setStatus("Connected, waiting for the first token…");
  const reader = response.body.getReader();
  const parser = new SSEParser();
  try {
    for (;;) {
      const { value, done } = await network(reader.read(),
        "Lost the connection to the server mid-reply");
      // A stream that ends without "data: [DONE]" was cut (server crash, proxy timeout).
      if (done) {
        throw new DisplayError(
          "The connection closed before the reply finished (no [DONE]); any answers above " +
          "may be incomplete.");
      }
      for (const data of parser.push(value)) {
        if (data === "[DONE]") return;
        if (data === "") continue;
        let chunk;
        try {
          chunk = JSON.parse(data);
        } catch {
          throw new DisplayError(`The server sent a malformed chunk: ${data.slice(0, 200)}`);
        }
        view.handleChunk(chunk);
      }
    }
  } finally {
    reader.cancel().catch(() => {}); // releases the connection early on errors; no-op otherwise
  }
}

function setBusy(busy) {
  el.send.disabled = busy;
  el.clear.disabled = busy;
  el.stop.disabled = !busy;
  document.body.dataset.busy = busy ? "true" : "false";
}

function scrollToLatest() {
  el.log.lastElementChild?.scrollIntoView({ block: "end" });
}

async function ask(question) {
  document.getElementById("empty")?.remove(); // kept by init() for "New chat"
  const view = new TurnView(question);
  el.log.append(view.node);
  const controller = new AbortController();
  current = { controller, view };
  setBusy(true);
  const body = requestBody(question);
  // Keep the newest text in view while it streams, unless the user scrolled up to read.
  const follow = new MutationObserver(() => {
    const box = el.log;
    if (box.scrollHeight - box.scrollTop - box.clientHeight < 120) scrollToLatest();
  });
  follow.observe(view.node, { childList: true, subtree: true, characterData: true });
  scrollToLatest();
  try {
    await streamReply(view, body, controller.signal);
    view.finish();
    if (view.content.trim()) {
      history.push({ role: "user", content: question },
        { role: "assistant", content: view.content.trim() });
    }
  } catch (err) {
    if (err?.name === "AbortError") view.stopped();
    else if (err instanceof DisplayError) view.failed(err.message);
    else view.failed(`Unexpected error in the page: ${err}`);
  } finally {
    follow.disconnect();
    current = null;
    setBusy(false);
    scrollToLatest();
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring.

function init() {
  for (const [name, id] of Object.entries({
    model: "model", modelsError: "models-error", temperature: "temperature",
    maxTokens: "max-tokens", showThinking: "show-thinking", enforceFormat: "enforce-format",
    apiKey: "api-key", rememberKey: "remember-key", log: "log", composer: "composer",
    question: "question", send: "send", stop: "stop", clear: "clear", example: "example",
  })) {
    el[name] = document.getElementById(id);
  }
  loadSettings();
  const applyThinking = () => {
    document.body.classList.toggle("hide-thinking", !el.showThinking.checked);
  };
  applyThinking();

  el.showThinking.addEventListener("change", applyThinking);
  document.getElementById("settings").addEventListener("change", saveSettings);
  document.getElementById("settings").addEventListener("submit", (e) => e.preventDefault());
  el.apiKey.addEventListener("input", () => {
    apiKeyInMemory = el.apiKey.value;
  });
  // A new key may unlock the model list (401 before).
  el.apiKey.addEventListener("change", () => loadModels().then(saveSettings));

  el.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    const question = el.question.value.trim();
    if (!question || current) return;
    el.question.value = "";
    ask(question);
  });
  el.question.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      el.composer.requestSubmit();
    }
  });
  el.stop.addEventListener("click", () => current?.controller.abort());
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && current) current.controller.abort();
  });
  const emptyState = document.getElementById("empty");
  el.clear.addEventListener("click", () => {
    history = [];
    el.log.replaceChildren(emptyState);
    el.question.focus();
  });
  el.example.addEventListener("click", () => {
    el.question.value = EXAMPLE_QUESTION;
    el.question.focus();
  });

  setBusy(false);
  loadModels().then(() => {
    document.body.dataset.ready = "true";
  });
}

init();
