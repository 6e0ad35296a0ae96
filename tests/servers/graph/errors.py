"""Graph's error answers: ``{"error": {"code", "message", "innerError": {...}}}``."""

from __future__ import annotations

import uuid
from datetime import datetime


class GraphError(Exception):
    """An error answer; raised anywhere below the HTTP layer, rendered once by it."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(
        self, now: datetime, request_id: str, client_request_id: str | None
    ) -> dict[str, object]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": now.strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request_id,
                    "client-request-id": client_request_id or request_id,
                },
            }
        }


def not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def bad_request(message: str, code: str = "ErrorInvalidRequest") -> GraphError:
    return GraphError(400, code, message)


def access_denied() -> GraphError:
    return GraphError(
        403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
    )


def invalid_user(user: str) -> GraphError:
    return GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")


def new_request_id() -> str:
    return str(uuid.uuid4())
