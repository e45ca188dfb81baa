// observer's page: search across sessions (GET api/search: sessions with a snippet of their
// newest hit and the found words' ranges, drawn as <mark> text nodes, never markup), and the
// history: ended sessions, filtered by agent and project, read from the server a page at a time.
"use strict";

const HISTORY_PAGE = 20;
const SEARCH_LIMIT = 30;

async function runSearch(event) {
  event.preventDefault();
  const text = $("search-text").value.trim();
  if (!text) return clearSearch();
  const params = new URLSearchParams({ text: text, limit: String(SEARCH_LIMIT) });
  if ($("search-agent").value) params.set("agent", $("search-agent").value);
  $("search-results").hidden = false;
  $("search-summary").textContent = "searching…";
  let response;
  try {
    response = await fetch("api/search?" + params);
  } catch (_err) {
    $("search-summary").textContent = "observer cannot be reached";
    return;
  }
  if (response.status === 401) return askToken("This browser's login has ended.");
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    $("search-summary").textContent = body.message || "search failed";
    return;
  }
  const results = body.results || [];
  const count = results.length === 1 ? "1 session" : results.length + " sessions";
  $("search-summary").textContent = results.length ? count : "Nothing found";
  $("results").replaceChildren(...results.map(resultRow));
}

function clearSearch() {
  $("search-text").value = "";
  $("search-results").hidden = true;
  $("results").replaceChildren();
}

function resultRow(r) {
  const row = el("li", "result");
  const link = el("a", "result-link");
  link.href = "#/session/" + encodeURIComponent(r.session_id) + "/at/" + Number(r.seq);
  const head = el("div", "row1");
  head.append(
    el("span", "project", r.project || r.session_id.slice(0, 8)),
    el("span", "agent", agentName(r.agent)),
    el("span", "age", ago(r.at))
  );
  link.append(head);
  if (r.title) link.append(el("p", "detail", r.title));
  link.append(snippet(r.snippet, r.highlights));
  row.append(link);
  return row;
}

// The snippet as text with the found words in <mark>: the ranges count code points (the
// server's characters), not UTF-16 units.
function snippet(text, highlights) {
  const out = el("p", "snippet");
  const chars = Array.from(String(text || ""));
  const ranges = (highlights || [])
    .filter((r) => Array.isArray(r) && Number.isInteger(r[0]) && Number.isInteger(r[1]))
    .sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [start, end] of ranges) {
    if (start < at || end <= start) continue;
    out.append(chars.slice(at, start).join(""), el("mark", null, chars.slice(start, end).join("")));
    at = end;
  }
  out.append(chars.slice(at).join(""));
  return out;
}

// -- history: ended sessions, a page at a time from the server (api/history: the most
// recently active first, by agent and project), merged with the ended sessions the live list
// brings (those that ended since the page was read, fresher than the page's copy)
const pastPages = {
  sessions: new Map(), // id -> session, as the server's pages gave it
  last: null, // the oldest session of the pages read, while there are more
  before: null, // the next page's cursor; null: every page is read
  total: 0, // ended sessions matching the filters when the first page was read
  agents: [],
  projects: [],
  asked: 0, // the newest request's number: an older answer (a filter changed) is dropped
};

function projectOf(s) {
  return s.project || basename(s.cwd) || "";
}

async function loadHistory(more) {
  const params = new URLSearchParams({ limit: String(HISTORY_PAGE) });
  if ($("history-agent").value) params.set("agent", $("history-agent").value);
  if ($("history-project").value) params.set("project", $("history-project").value);
  if (more) {
    if (pastPages.before === null) return;
    params.set("before", pastPages.before);
  }
  const asked = ++pastPages.asked;
  const response = await fetch("api/history?" + params).catch(() => null);
  if (response && response.status === 401) return askToken("This browser's login has ended.");
  const body = response && response.ok ? await response.json().catch(() => null) : null;
  if (!body || asked !== pastPages.asked) return;
  if (!more) pastPages.sessions.clear();
  for (const s of body.sessions) pastPages.sessions.set(s.id, s);
  const page = body.sessions;
  pastPages.before = body.before;
  pastPages.last = body.before !== null && page.length ? page[page.length - 1] : null;
  if (!more) pastPages.total = body.total;
  pastPages.agents = body.agents || [];
  pastPages.projects = body.projects || [];
  render();
}

// The server's order: the most recently active first, then the greater id.
function newerThan(a, b) {
  const at = (a.last_activity_at || 0) - (b.last_activity_at || 0);
  return at > 0 || (at === 0 && a.id > b.id);
}

function placeHistory(gone) {
  options($("history-agent"), [...pastPages.agents, ...gone.map((s) => s.agent)], "all agents",
    agentName);
  options($("history-project"), [...pastPages.projects, ...gone.map(projectOf)], "all projects");
  const agent = $("history-agent").value;
  const project = $("history-project").value;
  const fits = (s) => (!agent || s.agent === agent) && (!project || projectOf(s) === project);
  const merged = new Map(pastPages.sessions);
  let added = 0;
  for (const s of gone) {
    // Past the pages read, a session is the next pages' to show, in its place.
    if (!fits(s) || (pastPages.last && !newerThan(s, pastPages.last))) continue;
    if (!merged.has(s.id)) added++;
    merged.set(s.id, s);
  }
  let revived = 0;
  for (const id of pastPages.sessions.keys()) {
    const now = sessions.get(id);
    if (now && now.status !== "ended") {
      merged.delete(id);
      revived++;
    }
  }
  const shown = [...merged.values()].sort((a, b) => (newerThan(a, b) ? -1 : 1));
  place($("ended-sessions"), shown);
  const count = Math.max(pastPages.total + added - revived, shown.length);
  const left = Math.max(count - shown.length, 0);
  $("history-more").hidden = pastPages.before === null;
  $("history-more").textContent =
    "Show " + Math.min(left, HISTORY_PAGE) + " more of " + left;
  $("history-none").hidden = shown.length > 0;
  $("ended").hidden = count === 0 && !agent && !project;
  $("ended-count").textContent = String(count);
}

// A filter's choices: every value present, the chosen one kept.
function options(select, values, all, name) {
  const wanted = [...new Set(values.filter(Boolean))].sort();
  const key = wanted.join("\n");
  if (select.dataset.key === key) return;
  select.dataset.key = key;
  const chosen = select.value;
  const choices = [el("option", null, all), ...wanted.map((v) => el("option", null, v))];
  choices[0].value = "";
  for (const choice of choices.slice(1)) {
    choice.value = choice.textContent;
    if (name) choice.textContent = name(choice.value);
  }
  select.replaceChildren(...choices);
  select.value = wanted.includes(chosen) ? chosen : "";
}

$("search").addEventListener("submit", runSearch);
$("search-clear").addEventListener("click", clearSearch);
$("history-agent").addEventListener("change", () => loadHistory(false));
$("history-project").addEventListener("change", () => loadHistory(false));
$("history-more").addEventListener("click", () => loadHistory(true));
