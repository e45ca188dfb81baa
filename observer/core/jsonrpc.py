"""JSON-RPC 2.0 as Codex's app-server speaks it, without IO: the one peer behind observer's
three clients of it (a launched `codex app-server` on stdio, the TUI's daemon over a WebSocket,
install's trust call).

`Peer` numbers our requests and remembers which method each waits on; `receive` turns one
decoded message into what it is: a `Reply` to one of ours (with its error, if refused), a
`ServerRequest` (it carries an id: someone must answer it), or a `Notification`. Replies to ids
we never sent, or forgot, are `None`. The transports (observer/runtime/jsonrpc.py for asyncio,
install's blocking reader) send the messages built here and feed back what they read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from observer.core.errors import ObserverError

METHOD_NOT_FOUND = -32601


class RpcError(ObserverError):
    """The other side answered one of our requests with an error."""

    def __init__(self, method: str, code: object, message: str) -> None:
        self.method = method
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to a request of ours: `result`, or `error` (its message) when refused."""

    id: int
    method: str
    result: object
    error: str | None
    code: object = None

    def value(self) -> object:
        """The result; RpcError when the request was refused."""
        if self.error is not None:
            raise RpcError(self.method, self.code, self.error)
        return self.result


@dataclass(frozen=True, slots=True)
class ServerRequest:
    """A request the other side sends us: it waits for an answer under `id`."""

    id: object
    method: str
    params: dict[str, Any]
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notification:
    method: str
    params: dict[str, Any]
    message: dict[str, Any]


Incoming = Reply | ServerRequest | Notification


class Peer:
    def __init__(self) -> None:
        self._next_id = 0
        self.pending: dict[int, str] = {}  # request id -> its method, until answered

    def request(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """A new request: its id, and the message to send."""
        number = self._next_id
        self._next_id += 1
        self.pending[number] = method
        return number, {"jsonrpc": "2.0", "id": number, "method": method, "params": params}

    def forget(self, number: int) -> None:
        """Stop waiting on a request (timed out, or its caller went): a late answer is None."""
        self.pending.pop(number, None)

    def receive(self, message: dict[str, Any]) -> Incoming | None:
        method = message.get("method")
        if isinstance(method, str):
            params = message.get("params")
            params = params if isinstance(params, dict) else {}
            if "id" in message:
                return ServerRequest(message["id"], method, params, message)
            return Notification(method, params, message)
        number = message.get("id")
        if not isinstance(number, int) or isinstance(number, bool) or number not in self.pending:
            return None
        asked = self.pending.pop(number)
        if "error" in message:
            error = message["error"]
            text = error.get("message") if isinstance(error, dict) else error
            code = error.get("code") if isinstance(error, dict) else None
            return Reply(number, asked, None, str(text), code)
        return Reply(number, asked, message.get("result"), None)


def notification(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message


def result_reply(request_id: object, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_reply(request_id: object, code: int, text: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": text}}


def client_info(version: str) -> dict[str, Any]:
    """How observer names itself in `initialize`."""
    return {"name": "observer", "title": "observer", "version": version}
