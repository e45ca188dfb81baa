// observer-pi-extension: reports what this pi session does to observer, one spool file per event.
// Installed by `observer install-hooks --agent pi` into pi's agent dir (extensions/); uninstall
// removes exactly this file. pi loads it (jiti) in every mode: TUI, -p, --mode json, --mode rpc.
//
// The contract is observer-hook's (observer/spool.py): the record is written whole to the hidden
// `.ev.pi.<event>.<pid>.<nonce>.json` (0600), then the empty marker `ev.pi.<event>.<pid>.<nonce>.ready`
// commits it. The record is what connectors/pi.py parses: {ts, pid, hook, sessionId, sessionFile,
// cwd, model, event}, `event` being pi's own payload with its bulky parts (whole transcripts,
// tool output) left out.
//
// It must never slow or break pi (remote approval, below, is the one wait, and only when asked):
// only synchronous writes of a few hundred bytes (no await, no
// network, nothing that can hang), every error swallowed, nothing printed, and handlers return
// nothing, so they never block a tool call or change a message.
//
// Gate mode, only when observer itself launched this pi (`OBSERVER_PI_GATE=1` in its environment,
// set by observer/direct/pi.py on `pi --mode rpc`): pi has no permission prompt of its own, so a
// second `tool_call` handler holds every tool call that can change something and asks
// `ctx.ui.confirm`, which RPC mode sends to observer as an `extension_ui_request`; a "no" blocks
// the call. The wait is tied to the run's abort signal, so an abort while it is pending returns at
// once. Without that variable (the user's own pi, any mode) none of this is registered.
//
// Remote approval, for the user's own pi (no OBSERVER_PI_GATE): while `<data dir>/decide.on`
// exists (away mode on, or rules written; observer/decisions.py), a third `tool_call` handler
// asks observer (`POST <url>/api/hook/permission?agent=pi`, the token found as the server finds it: findToken), the
// wait tied to the run's abort signal and to the away timeout + 10 s; unanswered after QUIET_MS
// (no rule answered), it writes a `permission_request` record: the session shows `permission`. allow → the tool runs; deny → blocked.
// Where pi has a UI (the TUI) the person at the terminal is asked too (`ctx.ui.confirm`), and the
// first answer wins. No decision, a dead server, any error → the tool runs, as if observer were
// not there: pi has no prompt of its own, so failing open is what "never hurt the agent" means
// here (README: away mode with a dead server does not stop pi). Without decide.on the handler
// returns at once, synchronously: one existsSync per tool call, no await, no network.

import { request as httpRequest } from "node:http";
import { closeSync, existsSync, futimesSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";

// Baked in by the installer, not read from the environment: pi runs from any shell, where
// observer's own settings (OBSERVER_DATA_DIR, config.toml) are not in sight, and a spool dir
// that silently differs from the server's would lose every event. Re-installing updates it.
const SPOOL_DIR: string = "@OBSERVER_SPOOL_DIR@";
// Remote approval (observer/install_pi.py PiDecide); an empty DATA_DIR: never ask.
const DATA_DIR: string = "@OBSERVER_DATA_DIR@";
const SERVER_URL: string = "@OBSERVER_URL@";
const WAIT_SECONDS: number = Number("@OBSERVER_WAIT@");
const REPLY_WAIT_SECONDS: number = Number("@OBSERVER_REPLY_WAIT@");

// Only what says who the user waits on (see connectors/pi.py). turn_* and tool_call carry no
// status today; they are cheap, and tool_call is where an approval gate would hold a tool.
const HOOKS = [
	"session_start",
	"session_shutdown",
	"session_compact",
	"model_select",
	"agent_start",
	"agent_end",
	"turn_start",
	"turn_end",
	"message_end",
	"tool_call",
	"tool_execution_start",
	"tool_execution_end",
] as const;

const NONCE = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
let seq = 0;
let lastMicros = 0;

function modelName(model: any): string | undefined {
	return model && typeof model === "object" ? `${model.provider}/${model.id}` : undefined;
}

function texts(content: any): any {
	// Text only: a prompt's images would be megabytes of base64.
	if (!Array.isArray(content)) return content;
	return content.filter((block: any) => block && block.type === "text");
}

// pi's payload, without what the observer never reads and what can be large.
function slim(hook: string, event: any): any {
	switch (hook) {
		case "agent_end": {
			// How the run ended is its last assistant message; the rest is the whole transcript.
			const messages = Array.isArray(event.messages) ? event.messages : [];
			const last = [...messages].reverse().find((m: any) => m && m.role === "assistant");
			return { type: event.type, messages: last ? [last] : [] };
		}
		case "message_end": {
			const m = event.message ?? {};
			return { type: event.type, message: { role: m.role, content: texts(m.content), timestamp: m.timestamp } };
		}
		case "turn_end":
			return { type: event.type, turnIndex: event.turnIndex };
		case "tool_call": // its input is tool_execution_start's args, already written
			return { type: event.type, toolCallId: event.toolCallId, toolName: event.toolName };
		case "permission_request": // ours: the key is pi's tool name + input, as tool_execution_start's
			return {
				type: hook,
				toolCallId: event.toolCallId,
				toolName: event.toolName,
				input: event.input,
				summary: summary(event.toolName, event.input),
			};
		case "tool_execution_end":
			return { type: event.type, toolCallId: event.toolCallId, toolName: event.toolName, isError: event.isError };
		case "session_compact":
			return { type: event.type, fromExtension: event.fromExtension };
		case "model_select":
			return { type: event.type, source: event.source, model: modelName(event.model), previousModel: modelName(event.previousModel) };
		default:
			return event;
	}
}

function spool(hook: string, event: any, ctx: any): void {
	let sessionId: string | undefined;
	let sessionFile: string | undefined;
	try {
		sessionId = ctx.sessionManager.getSessionId();
		sessionFile = ctx.sessionManager.getSessionFile();
	} catch {
		// a stale ctx after the session was replaced: the record still says what it can
	}
	const now = Date.now();
	const body = JSON.stringify({
		ts: now,
		pid: process.pid,
		hook,
		sessionId,
		sessionFile,
		cwd: ctx.cwd,
		model: modelName(ctx.model),
		event: slim(hook, event),
	});
	// The spool is read in (mtime, name) order, and pi fires several events within one clock
	// tick: give each file its own mtime, strictly increasing, so they are read in the order
	// they happened and not by event name.
	lastMicros = Math.max(now * 1000, lastMicros + 1);
	const seconds = lastMicros / 1e6;
	const name = `ev.pi.${hook}.${process.pid}.${NONCE}x${++seq}`;
	const data = `${SPOOL_DIR}/.${name}.json`;
	let fd: number;
	try {
		fd = openSync(data, "wx", 0o600);
	} catch (err: any) {
		if (err?.code !== "ENOENT") return;
		mkdirSync(SPOOL_DIR, { recursive: true, mode: 0o700 });
		fd = openSync(data, "wx", 0o600);
	}
	let open = true;
	try {
		// One write: a short count (disk full) is a failure too, never a truncated record.
		const bytes = Buffer.from(body);
		if (writeSync(fd, bytes) !== bytes.length) throw new Error("short write");
		futimesSync(fd, seconds, seconds);
		open = false; // a close that fails has released the fd all the same: never twice
		closeSync(fd); // where a deferred write error shows (NFS)
	} catch {
		if (open) {
			try {
				closeSync(fd);
			} catch {
				// the file goes all the same
			}
		}
		try {
			unlinkSync(data); // never leave half a record for the server to adopt
		} catch {
			// gone already
		}
		return; // and no marker: nothing is committed
	}
	closeSync(openSync(`${SPOOL_DIR}/${name}.ready`, "wx", 0o600));
}

// Tools that only read: never held. Everything else (bash, edit, write, other extensions' tools).
const READ_ONLY = new Set(["read", "grep", "find", "ls"]);
const GATE_KEY = "observer_gate"; // connectors/pi_rpc.py reads the confirm's message by this key

function summary(toolName: string, input: any): string {
	if (input && typeof input === "object") {
		for (const key of ["command", "path", "file_path", "pattern", "url"]) {
			if (typeof input[key] === "string" && input[key]) return input[key].slice(0, 400);
		}
	}
	try {
		return JSON.stringify(input ?? {}).slice(0, 400);
	} catch {
		return toolName;
	}
}

async function gate(event: any, ctx: any): Promise<{ block: true; reason: string } | undefined> {
	if (READ_ONLY.has(event?.toolName) || !ctx?.hasUI) return undefined;
	const signal = ctx.signal;
	try {
		const message = JSON.stringify({
			[GATE_KEY]: {
				toolCallId: event.toolCallId,
				toolName: event.toolName,
				summary: summary(event.toolName, event.input),
			},
		});
		if (await ctx.ui.confirm(`Allow ${event.toolName}?`, message, { signal })) return undefined;
		return { block: true, reason: signal?.aborted ? "Aborted." : "Denied from observer." };
	} catch {
		return { block: true, reason: "observer could not ask for approval" };
	}
}

type Block = { block: true; reason: string } | undefined;

function anySignal(signals: any[]): AbortSignal {
	const live = signals.filter((s) => s && typeof s.aborted === "boolean");
	const any = (AbortSignal as any).any;
	if (typeof any === "function") return any(live);
	const controller = new AbortController();
	for (const s of live) {
		if (s.aborted) controller.abort();
		else s.addEventListener("abort", () => controller.abort(), { once: true });
	}
	return controller.signal;
}

// The server's token, found as the server finds it: OBSERVER_TOKEN, else `token = "…"` in
// <data dir>/config.toml, else <data dir>/token. Never baked into this file.
function findToken(): string {
	const fromEnv = (process.env.OBSERVER_TOKEN ?? "").trim();
	if (fromEnv) return fromEnv;
	try {
		const match = /^\s*token\s*=\s*["']([^"'\n]+)["']/m.exec(readFileSync(`${DATA_DIR}/config.toml`, "utf8"));
		if (match && match[1].trim()) return match[1].trim();
	} catch {
		// no config file: the token file decides
	}
	try {
		return readFileSync(`${DATA_DIR}/token`, "utf8").trim();
	} catch {
		return "";
	}
}

// Where the server listens now: a TCP SERVER_URL gives way to the one the running server wrote
// into <data dir>/server.json (while its pid lives), so a port change needs no reinstall. A
// socket URL is kept: it does not change with the port.
function serverUrl(): string {
	if (SERVER_URL.startsWith("unix:")) return SERVER_URL;
	try {
		const running = JSON.parse(readFileSync(`${DATA_DIR}/server.json`, "utf8"));
		process.kill(Number(running.pid), 0);
		if (typeof running.url === "string" && running.url.startsWith("http://")) return running.url;
	} catch {
		// no file, a dead server, a bad file: the installed URL
	}
	return SERVER_URL;
}

// POST to observer: over its unix socket in the 0700 data dir when SERVER_URL is
// `unix:<path>` (no other account can listen there, so neither the token nor the answer can
// be taken over), else over TCP.
function postJson(path: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<any> {
	if (!SERVER_URL.startsWith("unix:")) {
		return fetch(`${serverUrl()}${path}`, { method: "POST", headers, body, signal }).then((r) => r.json());
	}
	return new Promise((resolve, reject) => {
		const req = httpRequest(
			{ socketPath: SERVER_URL.slice(5), path, method: "POST", headers: { ...headers, Host: "localhost" }, signal },
			(res: any) => {
				const chunks: Buffer[] = [];
				res.on("data", (chunk: Buffer) => chunks.push(chunk));
				res.on("end", () => {
					try {
						resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
					} catch (err) {
						reject(err);
					}
				});
				res.on("error", reject);
			},
		);
		req.on("error", reject);
		req.end(body);
	});
}

// observer's answer: "allow", "deny" with its message, or undefined (no decision, any error).
async function askObserver(event: any, ctx: any, signal: AbortSignal): Promise<{ decision: string; message?: string } | undefined> {
	try {
		const headers: Record<string, string> = { "Content-Type": "application/json" };
		const token = findToken();
		if (token) headers.Authorization = `Bearer ${token}`;
		let sessionId: string | undefined;
		try {
			sessionId = ctx.sessionManager.getSessionId();
		} catch {
			return undefined;
		}
		const body = JSON.stringify({
			session_id: sessionId,
			tool_name: event.toolName,
			tool_input: event.input ?? {},
			tool_call_id: event.toolCallId,
			cwd: ctx.cwd,
		});
		const answer: any = await postJson("/api/hook/permission?agent=pi", headers, body, signal);
		const decision = answer?.decision;
		if (decision !== "allow" && decision !== "deny") return undefined;
		return { decision, message: typeof answer.message === "string" ? answer.message : undefined };
	} catch {
		return undefined;
	}
}

function remoteGate(event: any, ctx: any): Block | Promise<Block> {
	try {
		if (!existsSync(`${DATA_DIR}/decide.on`)) return undefined; // today's behaviour: no await
	} catch {
		return undefined;
	}
	return decideRemotely(event, ctx);
}

// A rule answers at once: only a call still unanswered after this long shows as `permission`
// (and asks the terminal), so rules alone never flash a prompt.
const QUIET_MS = 250;

async function decideRemotely(event: any, ctx: any): Promise<Block> {
	try {
		const done = new AbortController(); // the first answer ends the other wait
		const signal = anySignal([ctx?.signal, done.signal, AbortSignal.timeout((WAIT_SECONDS + 10) * 1000)]);
		let settled = false;
		const remote = askObserver(event, ctx, signal).then((answer) => {
			settled = true;
			return answer ? { from: "observer", ...answer } : undefined;
		});
		await Promise.race([remote, new Promise((resolve) => setTimeout(resolve, QUIET_MS))]);
		let answer: any;
		if (settled) {
			answer = await remote;
		} else {
			try {
				spool("permission_request", event ?? {}, ctx ?? {});
			} catch {
				// the question is still worth asking
			}
			const waits: Promise<any>[] = [remote];
			if (ctx?.hasUI) {
				const local = Promise.resolve(
					ctx.ui.confirm(`Allow ${event.toolName}?`, summary(event.toolName, event.input), { signal }),
				).then(
					(yes: boolean) => (signal.aborted ? undefined : { from: "terminal", decision: yes ? "allow" : "deny" }),
					() => undefined,
				);
				waits.push(local);
			}
			// First answer wins; a wait that ends without an answer leaves the others to answer.
			answer = await new Promise<any>((resolve) => {
				let left = waits.length;
				for (const wait of waits) {
					wait.then((value) => {
						if (value) resolve(value);
						else if (--left === 0) resolve(undefined);
					});
				}
			});
		}
		done.abort();
		if (answer?.decision === "deny") {
			return { block: true, reason: answer.from === "observer" ? (answer.message ?? "Denied from observer.") : "Denied at the terminal." };
		}
		return undefined;
	} catch {
		return undefined; // observer must never hurt pi: no decision, the tool runs
	}
}

// Reply and stop (observer/runtime/relay.py), for the user's own pi. With a UI (the TUI), a
// finished run in away mode (`<data dir>/reply.on`) asks observer for a client's message, in
// the background (pi never waits on it): when one comes and pi is still idle, pi goes on with
// it as if it were typed (`pi.sendUserMessage`). `pi -p` waits at its quit instead
// (replyBeforeQuit, below). Out of away mode nothing
// is asked: no loop, no request. A stop asked by a client (`<data dir>/stop.on`) is heard at
// the next tool call, in any mode: pi's own abort, as Esc, and that call does not run.
async function askRelay(path: string, ctx: any, signal: AbortSignal): Promise<any> {
	try {
		const headers: Record<string, string> = { "Content-Type": "application/json" };
		const token = findToken();
		if (token) headers.Authorization = `Bearer ${token}`;
		const body = JSON.stringify({ session_id: ctx.sessionManager.getSessionId(), cwd: ctx.cwd });
		return await postJson(`${path}?agent=pi`, headers, body, signal);
	} catch {
		return undefined;
	}
}

// A client's message for this session, held by observer up to its away_reply_timeout.
function askReply(ctx: any): Promise<any> {
	return askRelay("/api/hook/reply", ctx, AbortSignal.timeout((REPLY_WAIT_SECONDS + 10) * 1000));
}

function flagged(name: string): boolean {
	try {
		return existsSync(`${DATA_DIR}/${name}`);
	} catch {
		return false;
	}
}

function replyAfterRun(pi: any) {
	return (_event: any, ctx: any): undefined => {
		if (ctx?.hasUI && flagged("reply.on")) void waitForReply(pi, ctx);
		return undefined;
	};
}

async function waitForReply(pi: any, ctx: any): Promise<void> {
	try {
		const answer = await askReply(ctx);
		const message = answer?.message;
		if (typeof message !== "string" || !message.trim()) return;
		if (!ctx.isIdle()) return; // typed at the keyboard meanwhile: that wins
		pi.sendUserMessage(message);
	} catch {
		// observer must never hurt pi: no message, pi waits for its user as usual
	}
}

// `pi -p` and `--mode json` (no UI): print mode exits once its prompts ran, without waiting for
// a finished run's handlers, but it does await `session_shutdown`'s. So in away mode the quit
// waits there for a client's message, as Claude's Stop hook does: one comes → pi runs it as one
// more prompt (its answer goes to the session, not to stdout, which print mode already wrote),
// then waits for the next; none before the timeout, observer down, any error → pi quits as usual.
// Registered before the spool's handler: the session is not reported ended while it waits.
function replyBeforeQuit(pi: any) {
	return async (event: any, ctx: any): Promise<undefined> => {
		if (ctx?.hasUI || event?.reason !== "quit") return undefined;
		try {
			while (flagged("reply.on")) {
				const answer = await askReply(ctx);
				const message = answer?.message;
				if (typeof message !== "string" || !message.trim()) return undefined;
				pi.sendUserMessage(message);
				await runToEnd(ctx);
			}
		} catch {
			// observer must never hurt pi: it quits as it would have
		}
		return undefined;
	};
}

async function runToEnd(ctx: any): Promise<void> {
	const pause = (ms: number) => new Promise((done) => setTimeout(done, ms));
	const asked = Date.now(); // sendUserMessage starts the run a few awaits later
	while (ctx.isIdle() && Date.now() - asked < 5_000) await pause(20);
	while (!ctx.isIdle()) await pause(100);
}

function stopAtToolCall(_event: any, ctx: any): Block | Promise<Block> {
	if (!flagged("stop.on")) return undefined; // no stop asked: one stat, no await
	return askStop(ctx);
}

async function askStop(ctx: any): Promise<Block> {
	const answer = await askRelay("/api/hook/stop", ctx, AbortSignal.timeout(15_000));
	if (answer?.stop !== true) return undefined;
	try {
		ctx.abort();
	} catch {
		// the block below stops this call all the same
	}
	return { block: true, reason: String(answer.reason ?? "stopped from observer") };
}

export default function observer(pi: any): void {
	const remote = process.env.OBSERVER_PI_GATE !== "1" && DATA_DIR.startsWith("/") && SPOOL_DIR.startsWith("/");
	if (remote) pi.on("session_shutdown", replyBeforeQuit(pi));
	// The uninstalled template has nowhere to write; observer loads it (-e) for the gate alone.
	if (SPOOL_DIR.startsWith("/")) {
		for (const hook of HOOKS) {
			pi.on(hook, (event: any, ctx: any): undefined => {
				try {
					if (hook !== "message_end" || event?.message?.role === "user") spool(hook, event ?? {}, ctx ?? {});
				} catch {
					// observing must never break pi
				}
				return undefined;
			});
		}
	}
	// After the spool's handler: the tool_call record is written before the wait begins.
	if (process.env.OBSERVER_PI_GATE === "1") pi.on("tool_call", gate);
	else if (remote) {
		pi.on("tool_call", stopAtToolCall);
		pi.on("tool_call", remoteGate);
		pi.on("agent_end", replyAfterRun(pi));
	}
}
