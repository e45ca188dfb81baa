// observer's page: search across sessions (GET api/search: sessions with a snippet of their
// newest hit and the found words' ranges, drawn as <mark> text nodes, never markup), and the
// history: ended sessions, filtered by agent and project, shown a page at a time.
"use strict";

const HISTORY_PAGE = 20;
const SEARCH_LIMIT = 30;
let historyShown = HISTORY_PAGE;

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
    $("search-summary").textContent = "the server cannot be reached";
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
    el("span", "agent", r.agent),
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

// -- history: the ended sessions the server lists, a page at a time
function projectOf(s) {
  return s.project || basename(s.cwd) || "";
}

function placeHistory(gone) {
  options($("history-agent"), gone.map((s) => s.agent), "all agents");
  options($("history-project"), gone.map(projectOf), "all projects");
  const agent = $("history-agent").value;
  const project = $("history-project").value;
  const matching = gone.filter(
    (s) => (!agent || s.agent === agent) && (!project || projectOf(s) === project)
  );
  place($("ended-sessions"), matching.slice(0, historyShown));
  const left = matching.length - historyShown;
  $("history-more").hidden = left <= 0;
  $("history-more").textContent = "Show " + Math.min(left, HISTORY_PAGE) + " more of " + left;
  $("history-none").hidden = matching.length > 0;
  $("ended").hidden = gone.length === 0;
  $("ended-count").textContent = String(gone.length);
}

// A filter's choices: every value present, the chosen one kept.
function options(select, values, all) {
  const wanted = [...new Set(values.filter(Boolean))].sort();
  const key = wanted.join("\n");
  if (select.dataset.key === key) return;
  select.dataset.key = key;
  const chosen = select.value;
  const choices = [el("option", null, all), ...wanted.map((v) => el("option", null, v))];
  choices[0].value = "";
  select.replaceChildren(...choices);
  select.value = wanted.includes(chosen) ? chosen : "";
}

function historyFiltered() {
  historyShown = HISTORY_PAGE;
  render();
}

$("search").addEventListener("submit", runSearch);
$("search-clear").addEventListener("click", clearSearch);
$("history-agent").addEventListener("change", historyFiltered);
$("history-project").addEventListener("change", historyFiltered);
$("history-more").addEventListener("click", () => {
  historyShown += HISTORY_PAGE;
  render();
});
