"""App-only tokens from Entra ID with msal (client credentials: a secret or a certificate).

msal keeps the token in its in-memory cache and asks Entra ID for a new one shortly
before the old one expires; every Graph call asks for the token, so renewal needs nothing
of ours. A refusal (wrong secret, unknown app, missing admin consent) is permanent and
names the app; an unreachable login host is temporary.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msal
import requests

from connectors.graph.options import GraphSettings
from p2pcal.errors import PermanentError, TemporaryError, Unavailable, network_problem

log = logging.getLogger(__name__)

_MICROSOFT_HOSTS = (
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
)
_REFUSALS = (
    "invalid_client",
    "unauthorized_client",
    "invalid_request",
    "invalid_scope",
    "invalid_grant",
)


class Tokens:
    def __init__(self, settings: GraphSettings, session: requests.Session) -> None:
        self._settings = settings
        self._session = session
        self._app: Any = None
        self._lock = threading.Lock()
        self.acquired = 0
        """Tokens msal asked Entra ID for (not cache hits)."""

    def token(self) -> str:
        with self._lock:
            app = self._application()
            try:
                result = app.acquire_token_for_client(scopes=[self._settings.scope])
            except (requests.RequestException, OSError) as error:
                raise Unavailable(
                    f"graph: cannot reach {self._settings.authority_url}: {network_problem(error)}"
                ) from None
            if "access_token" in result:
                if result.get("token_source") == "identity_provider":
                    self.acquired += 1
                return str(result["access_token"])
            return self._refused(result)

    def forget(self) -> None:
        """Drop the cached token (Graph said it is no longer good)."""
        with self._lock:
            self._app = None

    def _application(self) -> Any:
        if self._app is None:
            settings = self._settings
            host = (urlsplit(settings.authority_url).hostname or "").lower()
            self._app = msal.ConfidentialClientApplication(
                settings.client_id,
                client_credential=_credential(settings),
                authority=settings.authority,
                http_client=self._session,
                # a login host of Microsoft's own is checked against Microsoft's list
                instance_discovery=host in _MICROSOFT_HOSTS,
                validate_authority=host in _MICROSOFT_HOSTS,
            )
        return self._app

    def _refused(self, result: dict[str, Any]) -> str:
        error = str(result.get("error", "unknown_error"))
        description = str(result.get("error_description", "")).splitlines()[0:1]
        detail = f"{error}: {description[0]}" if description else error
        where = f"graph: Entra ID refused a token for app {self._settings.client_id}"
        if error in _REFUSALS:
            raise PermanentError(
                f"{where} ({detail}); check tenant, client_id and the secret or certificate"
            )
        raise TemporaryError(f"{where} ({detail})")


def _credential(settings: GraphSettings) -> Any:
    if settings.client_secret:
        return settings.client_secret
    assert settings.certificate_file and settings.certificate_thumbprint
    try:
        pem = Path(settings.certificate_file).read_text()
    except OSError as error:
        raise PermanentError(f"graph: cannot read certificate_file: {error.strerror}") from None
    return {"private_key": pem, "thumbprint": settings.certificate_thumbprint}
