// observer's page: one session's view (#/session/<id>): its timeline, newest at the bottom,
// older pages loaded as you scroll up (get_timeline with `before`), live items appended
// (subscribe_session with timeline: true); below it the session's card, where a pending
// approval shows the call's full input and the diff an edit would apply above Approve/Deny.
// A search hit opens where it is (get_timeline with `after`), newer pages loaded as you
// scroll down until the newest, where live items join on.
"use strict";

const PAGE_OLDER = 100;

const view = {
  id: null,
  target: null, // the seq of an item to show (a search hit), until it is shown
  items: new Map(), // item_id -> item
  nodes: new Map(), // item_id -> its node (an <li>, or a call's output box)
  calls: new Map(), // call_id -> the tool call's <li>
  results: new Map(), // call_id -> its tool_result item
  before: null, // the cursor of older items; null: none
  after: null, // the cursor of newer items; null: the newest is shown (live items join)
  oldest: Infinity, // the smallest seq shown
  loading: false,
  ready: false, // the first page is shown
};
const pendingFetched = new Map(); // session id -> {request, item}: a list row's pending call

function openSession(id, target) {
  if (view.id !== id) {
    closeSession();
    view.id = id;
    view.target = target;
    $("list-view").hidden = true;
    $("session-view").hidden = false;
    resetTimeline();
    renderOpenCard();
    subscribeTimeline();
  } else if (target && target !== view.target) {
    view.target = target;
    seek();
  }
}

function closeSession() {
  if (view.id && socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type: "unsubscribe_session", session_id: view.id }));
  }
  view.id = null;
  view.target = null;
  $("session-view").hidden = true;
  $("list-view").hidden = false;
  $("open-session").replaceChildren();
  resetTimeline();
}

function resetTimeline() {
  view.items.clear();
  view.nodes.clear();
  view.calls.clear();
  view.results.clear();
  view.before = null;
  view.after = null;
  view.oldest = Infinity;
  view.loading = false;
  view.ready = false;
  $("items").replaceChildren();
  delete $("items").dataset.shown;
  $("timeline-top").textContent = "loading…";
  $("timeline-bottom").hidden = true;
}

// (Re)subscribe on open and after every reconnection: the page that comes is the newest.
function subscribeTimeline() {
  if (!view.id || !socket || socket.readyState !== WebSocket.OPEN) return;
  resetTimeline();
  socket.send(JSON.stringify({ type: "subscribe_session", session_id: view.id, timeline: true }));
}

function onTimeline(message) {
  if (message.type === "error") {
    if (message.ref === "older" || message.ref === "newer") view.loading = false;
    if (message.ref === "hit") view.target = null;
    if (!view.id || view.ready || message.code !== "not_found") return;
    if (message.ref === undefined) {
      // A session the server no longer follows (only its items are kept): read them anyway.
      socket.send(JSON.stringify({ type: "get_timeline", session_id: view.id, ref: "first" }));
    } else if (message.ref === "first") {
      // Not there yet (a session just launched): ask again in a moment.
      const id = view.id;
      setTimeout(() => view.id === id && !view.ready && subscribeTimeline(), 1000);
    }
    return;
  }
  if (message.session_id !== view.id) return;
  if (message.type === "timeline_items") return live(message.items);
  if (message.ref === "older") return older(message);
  if (message.ref === "newer") return newer(message);
  resetTimeline();
  placeItems(message.items, false);
  view.before = message.before;
  view.after = message.after === undefined ? null : message.after;
  view.ready = true;
  updateTop();
  if (message.ref !== "hit") window.scrollTo(0, document.documentElement.scrollHeight);
  render();
  shown();
  seek(message.ref === "hit");
}

// For the benchmark and the tests: the first screen is drawn (after the next paint).
function shown() {
  requestAnimationFrame(() =>
    setTimeout(() => {
      $("items").dataset.shown = String(view.items.size);
      performance.mark("timeline-shown");
    }, 0)
  );
}

function live(items) {
  const root = document.documentElement;
  const atBottom = window.innerHeight + window.scrollY >= root.scrollHeight - 120;
  // Short of the newest (a search hit's page): only items shown already change; the new
  // ones come with the newer pages.
  if (view.after !== null) items = items.filter((item) => view.items.has(item.item_id));
  placeItems(items, false);
  if (!view.ready) return;
  updateTop();
  if (atBottom) window.scrollTo(0, root.scrollHeight);
  render(); // a pending request's call may have come
}

function older(message) {
  const list = $("items");
  const anchor = list.firstElementChild;
  const y = anchor ? anchor.getBoundingClientRect().top : 0;
  placeItems(message.items, true);
  if (anchor) window.scrollBy(0, anchor.getBoundingClientRect().top - y);
  view.before = message.before;
  view.loading = false;
  updateTop();
  if (view.target) return seek();
  if (topInView()) loadOlder();
}

function newer(message) {
  placeItems(message.items, false);
  view.after = message.after;
  view.loading = false;
  updateTop();
  render();
  if (bottomInView()) loadNewer();
}

function loadOlder() {
  if (!view.id || !view.ready || view.loading || view.before === null) return;
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  view.loading = true;
  $("timeline-top").textContent = "loading older…";
  socket.send(JSON.stringify({
    type: "get_timeline",
    session_id: view.id,
    before: view.before,
    limit: PAGE_OLDER,
    ref: "older",
  }));
}

function loadNewer() {
  if (!view.id || !view.ready || view.loading || view.after === null) return;
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  view.loading = true;
  socket.send(JSON.stringify({
    type: "get_timeline",
    session_id: view.id,
    after: view.after,
    limit: PAGE_OLDER,
    ref: "newer",
  }));
}

function updateTop() {
  const top = $("timeline-top");
  if (view.before !== null) top.textContent = "older items load as you scroll up";
  else top.textContent = view.items.size ? "the start of the session" : "No items yet.";
  $("timeline-bottom").hidden = view.after === null;
}

function topInView() {
  return $("timeline-top").getBoundingClientRect().bottom > 0;
}

function bottomInView() {
  const bottom = $("timeline-bottom");
  return !bottom.hidden && bottom.getBoundingClientRect().top < window.innerHeight;
}

// A search hit: shown in the middle if it is here; else the page that starts at it is read
// (get_timeline with `after`), in place of the newest.
function seek(jumped) {
  if (!view.target || !view.ready) return;
  const seq = Number(view.target);
  const node = $("items").querySelector('[data-seq="' + seq + '"]');
  if (node) {
    view.target = null;
    const details = node.closest("details") || node.querySelector("details");
    if (details) details.open = true;
    const item = node.closest("li") || node;
    for (const old of document.querySelectorAll(".item.hit")) old.classList.remove("hit");
    item.classList.add("hit");
    item.scrollIntoView({ block: "center" });
  } else if (!jumped && (view.before !== null || view.after !== null) && !view.loading) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    view.loading = true;
    socket.send(JSON.stringify({
      type: "get_timeline",
      session_id: view.id,
      after: seq - 1,
      limit: PAGE_OLDER,
      ref: "hit",
    }));
  } else if (!jumped && view.loading) {
    return; // the page being read decides
  } else {
    view.target = null; // gone since (retention, a re-read): the session is shown anyway
  }
}

// -- placing items: a page (oldest first) prepended or appended; an item seen again replaces
// the first; a tool's output goes inside its call's <details> when the call is shown.
function placeItems(items, prepend) {
  const batch = document.createDocumentFragment();
  for (const item of items) {
    if (item.seq) view.oldest = Math.min(view.oldest, item.seq);
    const known = view.nodes.get(item.item_id);
    view.items.set(item.item_id, item);
    const node = nodeOf(item);
    if (known) {
      if (node) known.replaceWith(node);
      else known.remove();
    } else if (node) {
      batch.append(node);
    }
  }
  if (prepend) $("items").prepend(batch);
  else $("items").append(batch);
}

// The node an item takes in the list, or null when it went inside its call.
function nodeOf(item) {
  if (item.kind === "tool_result" && item.call_id) {
    view.results.set(item.call_id, item);
    const call = view.calls.get(item.call_id);
    if (call) {
      attach(call, item);
      return null;
    }
  }
  const node = itemNode(item);
  view.nodes.set(item.item_id, node);
  if (item.kind === "tool_call" && item.call_id) {
    view.calls.set(item.call_id, node);
    const result = view.results.get(item.call_id);
    if (result) {
      const alone = view.nodes.get(result.item_id);
      if (alone && alone.tagName === "LI") alone.remove();
      attach(node, result);
    }
  }
  return node;
}

function attach(call, result) {
  const box = resultBody(result);
  if (result.seq) box.dataset.seq = String(result.seq);
  const slot = call.querySelector(".output");
  if (slot) slot.replaceWith(box);
  view.nodes.set(result.item_id, box);
  call.classList.add("done");
  call.classList.toggle("failed", Boolean(result.error));
}

// -- the pending request: its tool call, by id (the request id is the call's own id for
// Claude, Codex and pi), else the newest call of that tool with no output yet.
function callIn(items, pending) {
  const answered = new Set(items.filter((i) => i.kind === "tool_result").map((i) => i.call_id));
  const calls = items.filter((i) => i.kind === "tool_call");
  const byId = calls.find((c) => c.call_id === pending.request_id);
  if (byId) return byId;
  for (let i = calls.length - 1; i >= 0; i--) {
    if (calls[i].tool === pending.tool && !answered.has(calls[i].call_id)) return calls[i];
  }
  return null;
}

function pendingCall(s) {
  const pending = s.pending;
  if (s.status !== "permission" || !pending) return null;
  if (view.id === s.id) {
    const shownItems = [...$("items").querySelectorAll("li.tool_call, li.tool_result")]
      .map((node) => view.items.get(node.dataset.id))
      .filter(Boolean);
    return callIn([...shownItems, ...view.results.values()], pending);
  }
  const known = pendingFetched.get(s.id);
  if (known && known.request === pending.request_id) return known.item;
  fetchPending(s.id, pending);
  return null;
}

async function fetchPending(sessionId, pending) {
  const entry = { request: pending.request_id, item: null };
  pendingFetched.set(sessionId, entry);
  const url = "api/sessions/" + encodeURIComponent(sessionId) + "/timeline?limit=50";
  const response = await fetch(url).catch(() => null);
  const body = response && response.ok ? await response.json().catch(() => null) : null;
  if (pendingFetched.get(sessionId) !== entry) return;
  entry.item = body ? callIn(body.items || [], pending) : null;
  if (entry.item) render();
  else setTimeout(() => pendingFetched.get(sessionId) === entry && pendingFetched.delete(sessionId), 2000);
}

function requestParts(call) {
  const parts = [el("p", "part", (call.tool || "tool") + " wants to run")];
  parts.push(folded(inputText(call.input), call, "input"));
  const diff = proposedDiff(call.input);
  if (diff) parts.push(el("p", "part", "The change it would make"), diffBlock(diff));
  return parts;
}

function fillRequest(box, s) {
  const call = pendingCall(s);
  const key = call ? s.pending.request_id + "|" + call.item_id : "";
  if (box.dataset.key !== key) {
    box.dataset.key = key;
    box.replaceChildren(...(call ? requestParts(call) : []));
  }
  box.hidden = !call;
}

function renderOpenCard() {
  if (!view.id) return;
  const holder = $("open-session");
  const s = sessions.get(view.id);
  $("view-title").textContent = s ? s.project || basename(s.cwd) || s.id : view.id;
  if (!s) return holder.replaceChildren();
  let row = holder.firstElementChild;
  if (!row || row.dataset.id !== s.id) {
    row = newRow(s, "open-");
    holder.replaceChildren(row);
  }
  fill(row, s);
}

// An observer's news can come late: the first page may have been placed (and scrolled to the
// newest) since the line was seen, so whether it is in view is asked again when it arrives.
new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting) && topInView()) loadOlder();
}).observe($("timeline-top"));
new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting) && bottomInView()) loadNewer();
}).observe($("timeline-bottom"));
