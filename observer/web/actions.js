// observer's page: what a session's card lets you do, and the words it says. The buttons are
// exactly the session's `capabilities` (an observed session offers Approve only while observer
// holds its request, in away mode); Approve has a scope (once, this session, always: "always"
// shows the rule it writes before writing it, through the rules API); a question's options are
// buttons; End and Interrupt ask first. Every text from an agent goes in through textContent.
"use strict";

const AGENT_NAMES = { claude: "Claude Code", codex: "Codex", pi: "pi" };
const STATUS_WORDS = {
  permission: "needs approval",
  question: "question",
  waiting: "your turn",
  working: "working",
  ended: "ended",
};
// An agent's own end reasons, said plainly (anything else is shown as it comes).
const END_WORDS = {
  prompt_input_exit: "exited in its terminal",
  clear: "cleared in its terminal",
  logout: "logged out",
  other: "ended",
  session_end: "ended",
  process_gone: "its process exited",
};
const DONE_WORDS = {
  send_message: "Sent",
  steer_turn: "Sent",
  interrupt_session: "Interrupted",
  answer_question: "Answer sent",
  end_session: "Ended",
  resume_session: "Resuming…",
};
const ERROR_WORDS = {
  already_resolved: "Already answered: the agent has moved on.",
  ended: "This session is not running any more.",
  too_many_sessions: "Too many launched sessions are running: end one first.",
  forced: "It did not stop in time, so observer ended its process.",
};

function agentName(agent) {
  return AGENT_NAMES[agent] || agent;
}

function endWords(reason) {
  return END_WORDS[reason] || reason;
}

// -- the card's actions ----------------------------------------------------------------------
function buttons(s) {
  const can = new Set(s.capabilities || []);
  const out = [];
  const pending = s.pending;
  if (s.status === "permission" && pending) {
    if (can.has("approve_tool")) out.push(approveBox(s, pending));
    else if (s.control !== "direct") out.push(note(awayNote()));
  }
  if (s.status === "question" && pending) {
    if (can.has("answer_question")) out.push(...questionBox(s, pending));
    else out.push(...choicesShown(pending), note("Answer it where it runs."));
  }
  if (s.status !== "ended" && can.has("send_message")) {
    out.push(textForm("Send", "message", s, "send_message", (text) => ({ text })));
  }
  if (["working", "permission", "question"].includes(s.status) && can.has("interrupt_session")) {
    out.push(confirmed("Interrupt", "", s, "interrupt_session",
      "Stop what it is doing now? The session stays open and waits for you.", "Stop it"));
  }
  if (s.status !== "ended" && can.has("end_session")) {
    out.push(confirmed("End", "quiet", s, "end_session",
      "End this session? Its process stops; you can resume it later.", "End it"));
  }
  if (s.status === "ended" && can.has("resume_session")) {
    out.push(button("Resume", "primary", s, "resume_session", {}));
  }
  return out;
}

function awayNote() {
  return away
    ? "It asked in its terminal before away mode was on: answer it there. Its next requests wait here."
    : "It asks in its terminal. Turn on away mode to answer its requests here.";
}

function note(text) {
  return el("p", "note", text);
}

// Approve, with its scope; "always" shows the rule before anything is written.
function approveBox(s, pending) {
  const box = el("div", "approve");
  const scopes = [["once", "Once"], ["session", "This session"]];
  if (pending.rule) scopes.push(["always", "Always"]);
  const group = el("div", "scope");
  group.setAttribute("role", "radiogroup");
  group.setAttribute("aria-label", "Approve for");
  const ruleLine = el("div", "rule");
  ruleLine.hidden = true;
  const name = "scope-" + s.id + "-" + pending.request_id;
  for (const [value, label] of scopes) {
    const choice = el("label", "scope-choice");
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = name;
    radio.value = value;
    radio.checked = value === "once";
    radio.addEventListener("change", () => {
      ruleLine.hidden = radio.value !== "always" || !radio.checked;
    });
    choice.append(radio, el("span", null, label));
    group.append(choice);
  }
  if (pending.rule) ruleLine.append(...ruleWords(pending.rule));
  const scope = () => group.querySelector("input:checked").value;
  const params = { request_id: pending.request_id };
  const allow = el("button", "approve", "Approve");
  allow.type = "button";
  allow.addEventListener("click", () => busy(allow, () => approve(s, pending, scope())));
  const deny = button("Deny", "deny", s, "approve_tool", { ...params, decision: "deny" }, "Denied");
  const row = el("div", "decide");
  row.append(allow, deny);
  box.append(group, ruleLine, row);
  return box;
}

function ruleWords(rule) {
  const list = el("dl");
  for (const [term, value] of [["agent", rule.agent], ["tool", rule.tool], ["pattern", rule.pattern]]) {
    list.append(el("dt", null, term), el("dd", null, value));
  }
  return [
    el("span", "rule-head", "Approving writes this allow rule first:"),
    list,
    el("span", "rule-foot", "Exactly this call, from now on, without asking " +
      "(see or remove it with observer rules)."),
  ];
}

async function approve(s, pending, scope) {
  const params = { request_id: pending.request_id, decision: "allow" };
  if (scope === "always") {
    const added = await post("api/rules", pending.rule, null);
    if (!added) return;
    const done = await act(s.id, "approve_tool", { ...params, scope: "once" }, null);
    if (done) toast("Approved, and rule " + added.rule.id + " added", false);
    else toast("Rule " + added.rule.id + " added, but this request was not approved", true);
    return;
  }
  await act(s.id, "approve_tool", { ...params, scope }, scope === "session"
    ? "Approved for this session" : "Approved");
}

// A question: each thing it asks, its options as buttons. One question with one answer to
// pick answers at a tap; several (or several options to pick) are sent together.
function questionBox(s, pending) {
  const asked = pending.questions || [];
  if (!asked.length) return [answerForm(s, pending, "your answer")];
  const quick = asked.length === 1 && !asked[0].multiple;
  const picks = asked.map(() => new Set());
  const texts = [];
  const boxes = asked.map((q, index) => {
    const box = el("fieldset", "question");
    // One question without a header: its text is the card's line already.
    if (q.header || asked.length > 1) box.append(el("legend", null, q.header || q.question));
    if (q.header) box.append(el("p", "asks", q.question));
    const own = q.options && q.options.length ? "or your own answer" : "your answer";
    const options = el("div", "options");
    for (const option of q.options || []) {
      const choice = el("button", "option");
      choice.type = "button";
      choice.append(el("span", "label", option.label));
      if (option.description) choice.append(el("span", "about", option.description));
      choice.setAttribute("aria-pressed", "false");
      choice.addEventListener("click", () => {
        if (quick) return busy(choice, () => answer(s, pending, [option.label]));
        const chosen = picks[index];
        if (!q.multiple) {
          chosen.clear();
          for (const other of options.children) other.setAttribute("aria-pressed", "false");
        }
        if (chosen.has(option.label)) chosen.delete(option.label);
        else chosen.add(option.label);
        choice.setAttribute("aria-pressed", String(chosen.has(option.label)));
      });
      options.append(choice);
    }
    if (options.children.length) box.append(options);
    if (q.multiple) box.append(el("p", "hint", "Pick one or more."));
    if (q.free_text && quick) box.append(answerForm(s, pending, own));
    else if (q.free_text) {
      const input = document.createElement("input");
      input.placeholder = own;
      input.setAttribute("aria-label", "Answer: " + (q.header || q.question));
      texts[index] = input;
      box.append(input);
    }
    return box;
  });
  if (quick) return boxes;
  const send = el("button", "primary", asked.length > 1 ? "Send answers" : "Send answer");
  send.type = "button";
  send.addEventListener("click", () => {
    const answers = asked.map((_q, i) => {
      const own = texts[i] && texts[i].value.trim();
      return own || [...picks[i]].join(", ");
    });
    const missing = answers.findIndex((a) => !a);
    if (missing >= 0) return toast("Answer “" + (asked[missing].header || asked[missing].question) + "” first", true);
    return busy(send, () => answer(s, pending, answers));
  });
  return [...boxes, send];
}

// What an observed session asks, shown (its terminal takes the answer).
function choicesShown(pending) {
  return (pending.questions || [])
    .filter((q) => q.options && q.options.length)
    .map((q) => el("p", "choices", q.options.map((o) => o.label).join(" · ")));
}

function answerForm(s, pending, placeholder) {
  return textForm("Answer", placeholder, s, "answer_question", (text) =>
    (pending.questions || []).length
      ? { request_id: pending.request_id, answers: [text] }
      : { request_id: pending.request_id, answer: text });
}

async function answer(s, pending, answers) {
  return act(s.id, "answer_question", { request_id: pending.request_id, answers }, "Answer sent");
}

// End and Interrupt ask first, in the card itself.
function confirmed(label, kind, s, action, question, yes) {
  const ask = el("button", kind || null, label);
  ask.type = "button";
  ask.addEventListener("click", () => {
    const actions = ask.closest(".actions");
    const box = el("div", "confirm");
    box.setAttribute("role", "alertdialog");
    box.setAttribute("aria-label", question);
    const go = button(yes, "deny", s, action, {});
    const back = el("button", "quiet", "Cancel");
    back.type = "button";
    back.addEventListener("click", () => {
      actions.dataset.key = ""; // drawn again from the session as it is now
      render();
    });
    box.append(el("p", null, question), go, back);
    // Kept while the session stays as it was; any change to it draws its actions again.
    actions.replaceChildren(box);
    back.focus();
  });
  return ask;
}

function button(label, kind, s, action, params, done) {
  const node = el("button", kind || null, label);
  node.type = "button";
  node.addEventListener("click", () => busy(node, () => act(s.id, action, params, done)));
  return node;
}

async function busy(node, work) {
  node.disabled = true;
  try {
    return await work();
  } finally {
    node.disabled = false;
  }
}

function textForm(label, placeholder, s, action, paramsOf) {
  const form = document.createElement("form");
  const input = document.createElement("input");
  input.placeholder = placeholder;
  input.setAttribute("aria-label", label + " " + (s.project || s.id));
  const send = el("button", "primary", label);
  send.type = "submit";
  form.append(input, send);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return input.focus();
    if (await busy(send, () => act(s.id, action, paramsOf(text)))) input.value = "";
  });
  return form;
}

async function act(sessionId, action, params, done) {
  const url = "api/sessions/" + encodeURIComponent(sessionId) + "/" + action;
  return post(url, params, done === undefined ? DONE_WORDS[action] || "Done" : done);
}

// A POST to the server; the reply, or null after saying what went wrong. `done`: the toast
// when it worked (null: none).
async function post(url, params, done) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(params),
    });
  } catch (_err) {
    toast("observer cannot be reached: nothing was sent", true);
    return null;
  }
  if (response.status === 401) {
    askToken("This browser's login has ended.");
    return null;
  }
  const reply = await response.json().catch(() => ({}));
  if (!response.ok) {
    toast(ERROR_WORDS[reply.code] || reply.message || "It failed (HTTP " + response.status + ")", true);
    return null;
  }
  if (done) toast(done, false);
  return reply;
}
