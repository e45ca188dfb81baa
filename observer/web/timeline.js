// observer's page: one timeline item as DOM nodes (docs/timeline.md describes an item). Every
// text from an agent goes in through textContent or a text node, never innerHTML: a tool's
// output of `<img onerror=…>` is shown as those characters. Plain functions; session.js places
// the nodes.
"use strict";

const FOLD_LINES = 12; // a longer text shows its first lines and a button for the rest
const FOLD_CHARS = 1500;
const NUMBER = new Intl.NumberFormat("en-US");

// Shared by the page's scripts (this one loads first).
const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// A text, folded when long: its first lines and "Show all"; a cut one says so, and its size.
function folded(text, item, className) {
  const box = el("div", "text " + (className || ""));
  const body = el("pre");
  const full = String(text || "");
  const lines = full.split("\n");
  const long = lines.length > FOLD_LINES || full.length > FOLD_CHARS;
  body.textContent = long ? lines.slice(0, FOLD_LINES).join("\n").slice(0, FOLD_CHARS) : full;
  box.append(body);
  if (long) {
    const more = el("button", "quiet more", "Show all (" + NUMBER.format(lines.length) + " lines)");
    more.type = "button";
    more.addEventListener("click", () => {
      body.textContent = full;
      more.remove();
    });
    box.append(more);
  }
  if (item && item.truncated) box.append(truncatedNote(item));
  return box;
}

function truncatedNote(item) {
  const size = item.full_size ? NUMBER.format(item.full_size) + " characters in all" : "cut";
  return el("p", "truncated", "truncated: " + size + ", the middle left out");
}

// A unified diff, one line per node, coloured by its first character.
function diffBlock(diff) {
  const pre = el("pre", "diff");
  for (const line of String(diff || "").split("\n")) {
    let kind = "ctx";
    if (line.startsWith("+++") || line.startsWith("---")) kind = "file";
    else if (line.startsWith("+")) kind = "add";
    else if (line.startsWith("-")) kind = "del";
    else if (line.startsWith("@@") || line.startsWith("***")) kind = "hunk";
    pre.append(el("span", "line " + kind, line + "\n"));
  }
  return pre;
}

// What a tool call is about, in one line: its command, else its path, else its input.
function about(input) {
  if (typeof input === "string") return input.split("\n").find((l) => l.trim()) || "";
  if (!input || typeof input !== "object") return "";
  for (const key of ["command", "cmd", "file_path", "path", "notebook_path", "pattern", "url",
    "query", "description", "prompt"]) {
    const value = input[key];
    if (typeof value === "string" && value) return value.split("\n")[0];
    if (Array.isArray(value) && value.length) return value.join(" ");
  }
  return JSON.stringify(input);
}

// A call's whole input, readable: a command as it is, else one "key: value" per field, a
// text of several lines under its key.
function inputText(input) {
  if (typeof input === "string") return input;
  if (!input || typeof input !== "object" || Array.isArray(input)) {
    return JSON.stringify(input, null, 2);
  }
  const command = input.command || input.cmd;
  if (typeof command === "string" && Object.keys(input).length === 1) return command;
  return Object.entries(input)
    .map(([key, value]) => {
      if (typeof value !== "string") return key + ": " + JSON.stringify(value, null, 2);
      return value.includes("\n") ? key + ":\n  " + value.split("\n").join("\n  ") : key + ": " + value;
    })
    .join("\n");
}

// The diff a file edit would apply, from the call's own input (the file itself is not known
// here: hunks have no line numbers). Claude Edit/MultiEdit/Write, pi edit/write, Codex
// apply_patch (its input is a patch already). Null for any other tool.
function proposedDiff(input) {
  if (typeof input === "string") return input.includes("*** Begin Patch") ? input : null;
  if (!input || typeof input !== "object") return null;
  if (typeof input.input === "string" && input.input.includes("*** Begin Patch")) {
    return input.input;
  }
  const path = input.file_path || input.path || input.notebook_path;
  if (typeof path !== "string") return null;
  const head = ["--- " + path, "+++ " + path];
  const hunk = (old, neu) => [
    "@@",
    ...String(old || "").split("\n").map((l) => "-" + l),
    ...String(neu || "").split("\n").map((l) => "+" + l),
  ];
  if (Array.isArray(input.edits)) {
    const out = [...head];
    for (const edit of input.edits) {
      if (!edit || typeof edit !== "object") continue;
      out.push(...hunk(edit.old_string ?? edit.oldText, edit.new_string ?? edit.newText));
    }
    return out.join("\n");
  }
  const old = input.old_string ?? input.oldText;
  const neu = input.new_string ?? input.newText;
  if (typeof old === "string" || typeof neu === "string") {
    return [...head, ...hunk(old, neu)].join("\n");
  }
  if (typeof input.content === "string") {
    return ["--- /dev/null", "+++ " + path, "@@",
      ...input.content.split("\n").map((l) => "+" + l)].join("\n");
  }
  return null;
}

// -- one item -> one <li>; a tool call's output goes inside it (resultBody), see session.js
function itemNode(item) {
  const node = el("li", "item " + item.kind);
  node.dataset.id = item.item_id;
  if (item.seq) node.dataset.seq = String(item.seq);
  if (item.subagent) node.classList.add("sub");
  if (item.at) node.title = new Date(item.at * 1000).toLocaleString();
  const fill = KINDS[item.kind] || other;
  fill(node, item);
  return node;
}

function fold(node, summaryText, open) {
  const details = el("details");
  details.open = Boolean(open);
  const summary = el("summary");
  summary.append(...[].concat(summaryText));
  details.append(summary);
  node.append(details);
  return details;
}

function label(text) {
  return el("span", "label", text);
}

function toolCall(node, item) {
  const details = fold(node, [label(item.tool || "tool"), el("span", "about", about(item.input))]);
  details.append(el("p", "part", "Input"), folded(inputText(item.input), item, "input"));
  const output = el("div", "output");
  output.append(el("p", "part waiting", "no output yet"));
  details.append(output);
  if (item.detail === "user") node.classList.add("by-user");
}

// A tool result inside its call's <details> (or on its own line when the call is not loaded).
function resultBody(item) {
  const box = el("div", "output");
  box.dataset.id = item.item_id;
  box.append(el("p", "part", item.error ? "Output (error)" : "Output"));
  box.append(folded(item.text || "(no output)", item, item.error ? "error" : ""));
  return box;
}

function toolResult(node, item) {
  const details = fold(node, [label("output"), el("span", "about", about(item.text || ""))]);
  details.append(resultBody(item));
  if (item.error) node.classList.add("failed");
}

function fileChange(node, item) {
  const lines = String(item.diff || "").split("\n");
  const added = lines.filter((l) => l.startsWith("+") && !l.startsWith("+++")).length;
  const removed = lines.filter((l) => l.startsWith("-") && !l.startsWith("---")).length;
  const details = fold(node, [label(item.detail || "change"), el("span", "about", item.path),
    el("span", "counts", "+" + added + " −" + removed)], lines.length <= 60);
  details.append(diffBlock(item.diff));
  if (item.truncated) details.append(truncatedNote(item));
}

const KINDS = {
  user_message: (node, item) => node.append(folded(item.text, item)),
  assistant_text: (node, item) => node.append(folded(item.text, item)),
  thinking: (node, item) => {
    const details = fold(node, [label("Thinking"), el("span", "about", about(item.text))]);
    details.append(folded(item.text, item));
  },
  tool_call: toolCall,
  tool_result: toolResult,
  file_change: fileChange,
  subagent_start: (node, item) => {
    const details = fold(node, [label("Subagent " + (item.detail || "")),
      el("span", "about", about(item.text || ""))]);
    details.append(folded(item.text, item));
  },
  subagent_end: (node, item) => {
    const details = fold(node, [label(item.error ? "Subagent failed" : "Subagent done"),
      el("span", "about", about(item.text || ""))]);
    details.append(folded(item.text, item));
  },
  compaction: (node, item) => {
    const details = fold(node, [label("Context compacted"), el("span", "about", item.detail)]);
    details.append(folded(item.text || "(no summary)", item));
  },
  api_error: (node, item) => {
    node.append(label("API error " + (item.detail || "")), folded(item.text, item));
  },
  interrupt: (node, item) => {
    node.append(label("Interrupted"), el("span", "about", item.text || item.detail || ""));
  },
};

function other(node, item) {
  node.append(label(item.kind), folded(item.text || "", item));
}
