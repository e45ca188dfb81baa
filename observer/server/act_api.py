"""`POST /act/<token>`: a notification's button (ntfy's action, a webhook's `actions`).

The link is the credential (observer/runtime/action_links.py): it answers one request of one
session with the answer on its button, once, before it expires; it is a public path for that
reason (access.py), still behind the Host and Origin guard and the JSON-body rule that keeps
browsers' cross-site forms out. The answer goes through the one dispatcher (actions.py), so a
request answered elsewhere meanwhile gets the same refusal as a second click on the page, and
nothing is applied. A notification offers answer buttons only once observer holds the request
(runtime/notify_send.py), so a tap never races the hold.
"""

from __future__ import annotations

import logging

from quart import Blueprint, Response, jsonify, request

from observer.runtime.action_links import LinkRefusedError
from observer.runtime.hub import error
from observer.server.context import runtime

log = logging.getLogger(__name__)
bp = Blueprint("act", __name__)

# What each outcome is, in the words a person reads on a lock screen.
_DONE = {
    ("approve_tool", "allow"): "Approved",
    ("approve_tool", "deny"): "Denied",
}
_STATUS = {"already_resolved": 409, "not_found": 404, "ended": 409, "unsupported": 409}


@bp.post("/act/<token>")
async def act(token: str) -> tuple[Response, int]:
    the = runtime()
    try:
        grant = the.access.action_links.redeem(token)
    except LinkRefusedError as exc:
        log.warning("refused a notification's button: %s", exc.code)
        return jsonify(error(exc.code, str(exc))), 410
    params: dict[str, object] = dict(grant.params)
    params.update(session_id=grant.session_id, request_id=grant.request_id)
    params["_by"] = f"notification:{grant.channel}@http:{request.remote_addr or 'unix socket'}"
    result = await the.actions.run(grant.action, params)
    if result.get("ok"):
        said = _DONE.get((grant.action, str(params.get("decision"))))
        message = said or f"Answered: {params.get('answer')}"
        return jsonify({"ok": True, "message": message, "session_id": grant.session_id}), 200
    code = str(result.get("code"))
    if code == "already_resolved":
        result["message"] = "already answered elsewhere: nothing was done"
    return jsonify(result), _STATUS.get(code, 400)
