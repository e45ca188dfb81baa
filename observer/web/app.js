// observer's page: the sessions that need you first, live over the WebSocket, with the
// actions each session accepts (actions.js); a session's own view (session.js), search and
// history (search.js); the away switch; whether observer can be reached at all. Plain DOM, no
// framework, no build step; the scripts load in order, this one last. Every text that comes
// from a session goes in through textContent, never innerHTML.
"use strict";

const OLD_TOKEN_KEY = "observer.token"; // earlier pages kept the token here: removed on load
// The attention order of observer/core/attention.py, which every client shows; the page keeps
// its own copy because it re-sorts after each change it folds (tests/clients/test_attention_order
// runs `ordered` below against it).
const RANK = { permission: 0, question: 1, waiting: 2, working: 3, ended: 4 };
const BACKOFF_MAX = 30000;

const sessions = new Map(); // id -> session object, as the protocol describes it
let socket = null;
let backoff = 1000;
let retryTimer = null;
let retryAt = 0; // when the next try starts (the banner counts down to it)
let loaded = false; // the list came from observer (an empty one means no sessions)
let reachable = false; // the last try reached observer
let away = null; // away mode as observer last said (null: not known yet)

// -- logging in: the server's login cookie (HttpOnly: this page never sees a secret) rides on
// every fetch and on the WebSocket's handshake; a 401 shows how to log in.
function headers(extra) {
  return Object.assign({}, extra || {});
}

async function logIn(token) {
  let response;
  try {
    response = await fetch("login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: token }),
    });
  } catch (_err) {
    return askToken("observer cannot be reached.");
  }
  if (!response.ok) return askToken("That token was refused.");
  backoff = 1000;
  start();
}

async function logOut() {
  await fetch("logout", { method: "POST", headers: { "Content-Type": "application/json" } })
    .catch(() => null);
  start();
}

function askToken(message) {
  if (socket) socket.onclose = null;
  closeSocket();
  $("main").hidden = true;
  $("auth").hidden = false;
  const problem = $("auth-error");
  problem.textContent = message || "";
  problem.hidden = !message;
  setLink("down", "log in");
  $("unreachable").hidden = true;
  setAway(null); // not known to a page that is not logged in
  $("token").focus();
}

// -- start: one fetch tells whether we may read (401 = ask for the token), then the socket
async function start() {
  clearTimeout(retryTimer);
  let response;
  try {
    response = await fetch("api/sessions", { headers: headers() });
  } catch (_err) {
    return retry("Cannot connect");
  }
  if (response.status === 401) return askToken("");
  if (!response.ok) return retry("It answered HTTP " + response.status);
  const body = await response.json();
  reachable = true;
  $("unreachable").hidden = true;
  $("auth").hidden = true;
  $("main").hidden = false;
  replaceAll(body.sessions || []);
  route();
  connect();
}

function connect() {
  closeSocket();
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const path = location.pathname.replace(/[^/]*$/, "") + "ws";
  const ws = new WebSocket(scheme + "//" + location.host + path);
  let opened = false;
  socket = ws;
  setLink("connecting", "connecting…");
  ws.onopen = () => {
    opened = true;
    backoff = 1000;
    reachable = true;
    $("unreachable").hidden = true;
    setLink("live", "live");
    ws.send(JSON.stringify({ type: "subscribe_list" }));
    subscribeTimeline();
  };
  ws.onmessage = (event) => receive(JSON.parse(event.data));
  ws.onclose = (event) => {
    if (socket !== ws) return;
    socket = null;
    // 4403: this device was revoked on observer's machine; its login is gone for good.
    if (event.code === 4403) {
      return askToken("This device was shut out (observer devices --revoke). Pair it again: run observer pair on observer's machine.");
    }
    // A refused handshake (a 401 among others) looks like any failed connection here:
    // the next attempt starts with the fetch, which tells a wrong token from a server down.
    retry(opened ? "The connection was lost" : "Cannot connect");
  };
}

function closeSocket() {
  if (socket) {
    const old = socket;
    socket = null;
    old.onclose = null;
    old.close();
  }
}

// observer unreachable: said in the header and in a banner over what it last showed (not
// "no sessions": nobody knows); tried again with a growing wait, or at once on "Try now".
function retry(why) {
  clearTimeout(retryTimer);
  const wait = backoff;
  backoff = Math.min(backoff * 2, BACKOFF_MAX);
  reachable = false;
  retryAt = Date.now() + wait;
  setLink("down", "unreachable");
  $("unreachable-why").textContent = why || "Cannot connect";
  $("unreachable-stale").hidden = !loaded;
  $("unreachable").hidden = false;
  countdown();
  setAway(away);
  retryTimer = setTimeout(start, wait);
}

function countdown() {
  const left = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
  $("unreachable-when").textContent = left ? "Trying again in " + left + " s." : "Trying again…";
}

// -- away mode: observer holds terminal sessions' permission requests for you to answer here
function setAway(on) {
  away = on;
  const box = $("away");
  box.checked = on === true;
  box.disabled = on === null || !reachable;
  document.body.classList.toggle("away", on === true);
  let line;
  if (on === null) line = "Away mode: not known until observer answers.";
  else if (on) line = "Away: terminal sessions' approvals wait here for you.";
  else line = "Away is off: terminal sessions ask in their own terminal.";
  if (on !== null && !reachable) line += " (as observer last said)";
  $("away-line").textContent = line;
  render(); // an observed session's card says where to answer it
}

async function switchAway() {
  const box = $("away");
  box.disabled = true; // until observer says where it stands
  const reply = await post("api/away", { on: box.checked }, null);
  setAway(reply ? Boolean(reply.away) : away); // refused: back as it was
  if (reply) toast(reply.away ? "Away mode on" : "Away mode off", false);
}

function setLink(state, text) {
  const link = $("link");
  link.dataset.state = state;
  link.textContent = text;
}

// -- the protocol: sessions_list, then session_created / session_delta / session_ended
function receive(message) {
  switch (message.type) {
    case "hello":
      setAway(Boolean(message.away));
      break;
    case "away":
      setAway(Boolean(message.on));
      break;
    case "sessions_list":
      replaceAll(message.sessions);
      break;
    case "session_created":
    case "session_ended":
      sessions.set(message.session_id, message.session);
      render();
      break;
    case "session_snapshot":
      sessions.set(message.session.id, message.session);
      render();
      break;
    case "timeline_page":
    case "timeline_items":
    case "error":
      onTimeline(message);
      break;
    case "session_delta": {
      // One of the history's coming back (a resume) is in the list again from here.
      const old = pastPages.sessions.get(message.session_id);
      if (!sessions.has(message.session_id) && old) sessions.set(old.id, old);
      const known = sessions.get(message.session_id);
      if (!known) return; // announced before our list: the next list has it
      Object.assign(known, message.changes, {
        status: message.status,
        revision: message.revision,
      });
      render();
      break;
    }
    default:
      break;
  }
}

// The list: live and recently ended sessions; the history's first page is read again with it.
function replaceAll(list) {
  sessions.clear();
  for (const session of list) sessions.set(session.id, session);
  loaded = true;
  render();
  loadHistory(false);
}

// -- rendering: keyed rows, so a live update never wipes what you are typing
function ordered() {
  return [...sessions.values()].sort((a, b) => {
    const ra = RANK[a.status] ?? 5;
    const rb = RANK[b.status] ?? 5;
    if (ra !== rb) return ra - rb;
    // needing you: the longest waiting first; otherwise the most recently active first
    if (ra < 3) return (a.status_since || 0) - (b.status_since || 0);
    return (b.last_activity_at || 0) - (a.last_activity_at || 0);
  });
}

function render() {
  const live = $("sessions");
  const all = ordered();
  const open = all.filter((s) => s.status !== "ended");
  const gone = all.filter((s) => s.status === "ended");
  place(live, open);
  placeHistory(gone);
  // "No sessions" only from observer itself: unreachable, nobody knows.
  $("empty").hidden = !loaded || !reachable || all.length > 0 || pastPages.sessions.size > 0;
  const attention = open.filter((s) => s.status === "permission" || s.status === "question");
  const count = $("attention");
  count.hidden = attention.length === 0;
  count.textContent = String(attention.length);
  count.title = attention.length + " waiting for your approval or answer";
  document.title = (attention.length ? "(" + attention.length + ") " : "") + "observer";
  renderOpenCard();
}

function place(list, items) {
  const keep = new Set(items.map((s) => s.id));
  for (const row of [...list.children]) {
    if (!keep.has(row.dataset.id)) row.remove();
  }
  let previous = null;
  for (const session of items) {
    let row = document.getElementById("session-" + session.id);
    if (!row) row = newRow(session);
    fill(row, session);
    const wanted = previous ? previous.nextSibling : list.firstChild;
    if (row !== wanted) list.insertBefore(row, wanted);
    previous = row;
  }
}

function newRow(session, prefix) {
  const row = document.createElement("li");
  row.className = "session";
  row.id = (prefix || "session-") + session.id;
  row.dataset.id = session.id;
  row.innerHTML =
    '<div class="row1"><span class="status"></span><a class="project"></a>' +
    '<span class="agent"></span><span class="age"></span></div>' +
    '<p class="waits"></p><p class="detail"></p><p class="usage" hidden></p>' +
    '<div class="request" hidden></div>' +
    '<div class="actions"></div>';
  // A tap on the row opens the session, unless it is on something of its own.
  row.addEventListener("click", (event) => {
    if (event.target.closest(".actions, .request, a, button, input")) return;
    location.hash = "#/session/" + encodeURIComponent(session.id);
  });
  return row;
}

function fill(row, s) {
  row.dataset.status = s.status;
  const part = (name) => row.querySelector("." + name);
  part("status").textContent = STATUS_WORDS[s.status] || s.status;
  part("project").textContent = s.project || basename(s.cwd) || s.id.slice(0, 8);
  part("project").title = s.cwd || "";
  part("project").href = "#/session/" + encodeURIComponent(s.id);
  const where = s.control === "direct" ? " · launched here" : s.host ? " · on " + s.host : "";
  part("agent").textContent = agentName(s.agent) + where;
  const age = part("age");
  age.dataset.since = String(s.status_since || s.last_activity_at || 0);
  age.textContent = ago(Number(age.dataset.since));
  waitsFor(part("waits"), s);
  const detail = [s.title, s.git_branch && "⎇ " + s.git_branch, s.model]
    .filter(Boolean)
    .join(" · ");
  part("detail").textContent = detail;
  part("detail").hidden = !detail;
  const usage = usageLine(s.usage);
  part("usage").textContent = usage;
  part("usage").hidden = !usage;
  fillRequest(part("request"), s);
  const actions = part("actions");
  const key = [s.status, s.pending && s.pending.request_id, (s.capabilities || []).join(),
    s.control === "direct" || away].join("|");
  if (actions.dataset.key !== key) {
    actions.dataset.key = key;
    actions.replaceChildren(...buttons(s));
  }
}

function waitsFor(el, s) {
  el.replaceChildren();
  const pending = s.pending || {};
  if (s.status === "permission") {
    el.append(strong("Approve " + (pending.tool || "a tool")));
    if (pending.summary) el.append(": " + pending.summary);
  } else if (s.status === "question") {
    el.append(strong("Question"));
    el.append(": " + (pending.summary || s.last_message || ""));
  } else if (s.status === "waiting") {
    el.append(strong("Your turn"));
    if (s.last_message) el.append(" — " + clip(s.last_message, 280));
  } else if (s.status === "working") {
    el.append(s.current_tool ? "running " + s.current_tool : "working…");
  } else {
    el.append(s.error || endWords(s.ended_reason) || "ended");
  }
}

// -- launching a session observer drives itself
async function launch(event) {
  event.preventDefault();
  const form = event.target;
  const data = new FormData(form);
  const params = { agent: data.get("agent"), cwd: String(data.get("cwd")).trim() };
  const prompt = String(data.get("prompt") || "").trim();
  if (prompt) params.prompt = prompt;
  const submit = form.querySelector("button");
  submit.disabled = true;
  const reply = await post("api/sessions", params, "Launched");
  submit.disabled = false;
  if (reply && reply.session_id) {
    form.elements.prompt.value = "";
    form.closest("details").open = false;
    localStorage.setItem("observer.cwd", params.cwd);
    location.hash = "#/session/" + reply.session_id;
  }
}

// -- routes: #/session/<id> opens a session's view, #/session/<id>/at/<seq> at that item
function route() {
  const match = /^#\/session\/([^/]+)(?:\/at\/(\d+))?$/.exec(location.hash);
  if (match) openSession(decodeURIComponent(match[1]), match[2] ? Number(match[2]) : null);
  else closeSession();
  if (loaded) render(); // the rows' pending calls: from the view's items, or fetched
}

// -- small helpers
function strong(text) {
  const el = document.createElement("span");
  el.className = "tool";
  el.textContent = text;
  return el;
}

// A session's cost, context in use and the plan's limits, as `observer status` says them
// (observer/core/usage.py: `compact`, `money`, `limit_label`): "$1.23 · ctx 42% · 5h 23% · 7d 41%".
function usageLine(u) {
  if (!u) return "";
  const parts = [];
  if (u.records) {
    parts.push(u.cost_usd == null ? "$?" : money(u.cost_usd) + (u.cost_complete === false ? "+?" : ""));
  }
  const context = u.context || {};
  if (typeof context.percent === "number") parts.push("ctx " + percent(context.percent));
  else if (context.used > 0) parts.push("ctx " + human(context.used));
  for (const limit of u.rate_limits || []) {
    parts.push(limitLabel(limit) + " " + percent(limit.used_percent));
  }
  return parts.join(" · ");
}

// Rounded half to even, as Python's "{:.0f}" (observer status): 42.5 is 42%, 43.5 is 44%.
function percent(value) {
  const rounded = Math.round(value);
  return (Math.abs(value % 1) === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded) + "%";
}

function money(cost) {
  if (cost === 0) return "$0.00";
  if (Math.abs(cost) >= 0.01) {
    return "$" + cost.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  return "$" + cost.toPrecision(2).replace(/0+$/, "").replace(/\.$/, "");
}

function human(count) {
  if (count < 1000) return String(count);
  if (count < 1000000) return (count / 1000).toFixed(1) + "k";
  return (count / 1000000).toFixed(1) + "M";
}

function limitLabel(limit) {
  const minutes = limit.window_minutes;
  if (!minutes || minutes <= 0) return limit.name;
  if (minutes % 1440 === 0) return minutes / 1440 + "d";
  if (minutes % 60 === 0) return minutes / 60 + "h";
  return minutes + "m";
}

function basename(path) {
  return path ? path.replace(/\/+$/, "").split("/").pop() : "";
}

function clip(text, length) {
  return text.length > length ? text.slice(0, length - 1) + "…" : text;
}

function ago(since) {
  if (!since) return "";
  const seconds = Math.max(0, Math.floor(Date.now() / 1000 - since));
  if (seconds < 60) return seconds + "s";
  if (seconds < 3600) return Math.floor(seconds / 60) + "m";
  if (seconds < 86400) return Math.floor(seconds / 3600) + "h";
  return Math.floor(seconds / 86400) + "d";
}

let toastTimer = null;

function toast(text, bad) {
  const el = $("toast");
  el.textContent = text;
  el.className = bad ? "bad" : "";
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), bad ? 6000 : 2500);
}

// -- wiring
$("auth").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  $("token").value = "";
  logIn(token);
});
$("forget").addEventListener("click", logOut);
$("away").addEventListener("change", switchAway);
$("try-now").addEventListener("click", () => {
  backoff = 1000;
  start();
});
localStorage.removeItem(OLD_TOKEN_KEY);
$("launch-form").addEventListener("submit", launch);
$("launch-form").elements.cwd.value = localStorage.getItem("observer.cwd") || "";
window.addEventListener("hashchange", route);
setInterval(() => {
  for (const age of document.querySelectorAll(".age[data-since]")) {
    age.textContent = ago(Number(age.dataset.since));
  }
  if (!$("unreachable").hidden) countdown();
}, 1000);
// The offline shell: the page's own files, kept by a service worker so the page opens (and
// says observer is unreachable) without a network. Never the API: only these files.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("web/sw.js", { scope: "./" }).catch(() => null);
}
// A pairing link under observer's own certificate carries its fingerprint in the fragment
// (`observer pair`; never sent to a server): show it once, to compare with the browser's.
function showCertificate() {
  const match = /^#fp=([0-9A-Fa-f]{64})$/.exec(location.hash);
  if (!match) return;
  $("certificate-fp").textContent = match[1].toUpperCase().match(/../g).join(":");
  $("certificate").hidden = false;
  history.replaceState(null, "", location.pathname + location.search);
}
$("certificate-ok").addEventListener("click", () => ($("certificate").hidden = true));
showCertificate();
setAway(null);
start();
