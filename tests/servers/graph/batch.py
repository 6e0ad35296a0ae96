"""``POST /$batch``: up to 20 requests, ``dependsOn`` chains, one answer each.

Requests without ``dependsOn`` run side by side, as Graph runs them: each takes a slot
of its mailbox's concurrency limit at once, so a sixth request to one mailbox in a
batch gets its own 429 while the others go through. Dependent requests run after
their dependencies, in order; a failed dependency answers 424.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import GraphError
from .http import GRAPH_CONTENT_TYPE, Call, Reply, split_target

if TYPE_CHECKING:
    from .server import GraphServer

LIMIT = 20


def _inner_call(outer: Call, request: dict[str, Any]) -> Call:
    url = str(request.get("url") or "")
    path, query = split_target("/" + url.lstrip("/"))
    if path.startswith("/v1.0/"):
        path = path[len("/v1.0") :]
    headers = {str(k).lower(): str(v) for k, v in (request.get("headers") or {}).items()}
    return Call(
        str(request.get("method") or "GET").upper(),
        path,
        query,
        headers,
        request.get("body"),
        batched=True,
        app=outer.app,
    )


def _answer(request_id: str, reply: Reply) -> dict[str, Any]:
    headers = {
        k: v
        for k, v in reply.headers.items()
        if k.lower() not in ("request-id", "client-request-id")
    }
    if reply.body is not None:
        headers.setdefault("Content-Type", GRAPH_CONTENT_TYPE)
    found: dict[str, Any] = {"id": request_id, "status": reply.status, "headers": headers}
    if reply.body is not None:
        found["body"] = reply.body
    return found


def run(server: GraphServer, call: Call) -> Reply:
    body = call.body
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if len(requests) > LIMIT:
        raise GraphError(
            400, "BadRequest", f"Number of batch requests exceeds the limit of {LIMIT}."
        )
    ids = [str(r.get("id")) for r in requests]
    if len(set(ids)) != len(ids):
        raise GraphError(400, "BadRequest", "Batch request contains duplicate ids.")
    answers: dict[str, Reply] = {}
    independent = [r for r in requests if not r.get("dependsOn")]
    dependent = [r for r in requests if r.get("dependsOn")]
    # Side by side: every independent request holds its mailbox slot for the whole run.
    held: list[tuple[str, Call, str | None, bool]] = []
    for request in independent:
        inner = _inner_call(call, request)
        mailbox = server.mailbox_of(inner)
        held.append((str(request.get("id")), inner, mailbox, server.enter(mailbox)))
    try:
        for request_id, inner, mailbox, slot in held:
            if not _has_content_type(inner):
                answers[request_id] = _error(server, inner, _needs_content_type())
            elif slot:
                answers[request_id] = server.execute(inner, slot_held=True)
            else:
                answers[request_id] = server.refuse(inner, mailbox)
    finally:
        for _, _, mailbox, slot in held:
            if slot:
                server.leave(mailbox)
    for request in dependent:
        request_id = str(request.get("id"))
        inner = _inner_call(call, request)
        failed = [d for d in request["dependsOn"] if d not in answers or answers[d].status >= 400]
        if failed:
            answers[request_id] = _error(
                server, inner, GraphError(424, "FailedDependency", "Failed dependency.")
            )
        elif not _has_content_type(inner):
            answers[request_id] = _error(server, inner, _needs_content_type())
        else:
            answers[request_id] = server.execute(inner)
    return Reply(200, {"responses": [_answer(i, answers[i]) for i in ids]})


def _has_content_type(inner: Call) -> bool:
    return inner.body is None or "content-type" in inner.headers


def _needs_content_type() -> GraphError:
    return GraphError(400, "BadRequest", "Content-Type header is required when a body is present.")


def _error(server: GraphServer, inner: Call, error: GraphError) -> Reply:
    return server.error_reply(error, inner.headers)
