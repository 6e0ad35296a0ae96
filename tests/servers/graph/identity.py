"""Entra ID: OIDC discovery, the v2.0 token endpoint (client credentials) and the
opaque access tokens Graph calls carry.

Errors follow Entra's token-endpoint shape: ``{"error", "error_description" (starting
with the AADSTS code), "error_codes", "timestamp", "trace_id", "correlation_id",
"error_uri"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import GraphError

# Graph's application id: ``{GRAPH_APP_ID}/.default`` names the same resource as the URL.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_PERMISSIONS = frozenset({"Calendars.ReadWrite", "Place.Read.All", "Mail.Send"})


class TokenEndpointError(Exception):
    """An Entra error answer (status, OAuth error, AADSTS number, text)."""

    def __init__(self, status: int, error: str, code: int, text: str) -> None:
        super().__init__(f"AADSTS{code}: {text}")
        self.status = status
        self.error = error
        self.code = code
        self.text = text

    def body(self, now: datetime) -> dict[str, object]:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": (
                f"AADSTS{self.code}: {self.text} Trace ID: {trace} "
                f"Correlation ID: {correlation} Timestamp: {stamp}"
            ),
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }


@dataclass(eq=False)
class App:
    """One app registration with its application permissions (admin-consented)."""

    client_id: str
    secret: str | None
    permissions: set[str]
    # Thumbprints (raw digest bytes) of uploaded certificates -> public key.
    sha256_keys: dict[bytes, rsa.RSAPublicKey] = field(default_factory=dict)
    sha1_keys: dict[bytes, rsa.RSAPublicKey] = field(default_factory=dict)

    def add_certificate(self, certificate_pem: str) -> None:
        cert = x509.load_pem_x509_certificate(certificate_pem.encode())
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("Entra ID app certificates are RSA")
        self.sha256_keys[cert.fingerprint(hashes.SHA256())] = key
        self.sha1_keys[cert.fingerprint(hashes.SHA1())] = key


@dataclass(frozen=True)
class AccessToken:
    app: App
    expires: datetime


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Identity:
    """The tenant's directory of apps and the tokens issued to them."""

    def __init__(self, tenant: str, clock: Callable[[], datetime]) -> None:
        self.tenant = tenant
        self.clock = clock
        self.apps: dict[str, App] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.tokens_issued = 0
        self.token_lifetime = 3599  # seconds, as Entra answers (one hour minus a second)
        self.resources: set[str] = {f"{GRAPH_APP_ID}", "https://graph.microsoft.com"}

    # -- discovery ---------------------------------------------------------
    def openid_configuration(self, base: str) -> dict[str, object]:
        root = f"{base}/{self.tenant}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/{self.tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{root}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "tid", "ver"],
            "kerberos_endpoint": f"{root}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": base.removeprefix("https://"),
            "rbac_url": "https://pas.windows.net",
        }

    # -- the token endpoint --------------------------------------------------
    def token(
        self, form_body: bytes, authorization: str | None, token_endpoint: str
    ) -> dict[str, object]:
        """Answer a client-credentials token request, or raise TokenEndpointError."""
        form = {k: v[0] for k, v in parse_qs(form_body.decode()).items()}
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        if authorization and authorization.startswith("Basic "):  # client_secret_basic
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, secret = decoded.partition(":")
        grant = form.get("grant_type")
        if grant != "client_credentials":
            raise TokenEndpointError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        if not client_id:
            raise TokenEndpointError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        app = self.apps.get(client_id)
        if app is None:
            raise TokenEndpointError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.tenant}'. This can happen if the application has not been installed "
                "by the administrator of the tenant or consented to by any user in the tenant. "
                "You may have sent your authentication request to the wrong tenant.",
            )
        if form.get("client_assertion"):
            if form.get("client_assertion_type") != JWT_BEARER:
                raise TokenEndpointError(
                    400,
                    "invalid_request",
                    50027,
                    "The client_assertion_type is not supported.",
                )
            self._check_assertion(app, form["client_assertion"], token_endpoint)
        elif secret is not None:
            if app.secret is None or not secrets.compare_digest(secret, app.secret):
                raise TokenEndpointError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the "
                    "request is the client secret value, not the client secret ID, for a "
                    f"secret added to app '{client_id}'.",
                )
        else:
            raise TokenEndpointError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' "
                "or 'client_secret'.",
            )
        self._check_scope(form.get("scope", ""))
        return self._issue(app)

    def _check_scope(self, scope: str) -> None:
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise TokenEndpointError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        resource = scopes[0].removesuffix("/.default")
        if resource not in self.resources:
            raise TokenEndpointError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                f"{self.tenant}. This can happen if the application has not been installed by "
                "the administrator of the tenant or consented to by any user in the tenant.",
            )

    def _check_assertion(self, app: App, assertion: str, token_endpoint: str) -> None:
        def malformed(why: str) -> TokenEndpointError:
            return TokenEndpointError(
                401, "invalid_client", 50027, f"JWT token is invalid or malformed: {why}."
            )

        try:
            head_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url(head_b64))
            claims = json.loads(_b64url(claims_b64))
            signature = _b64url(signature_b64)
        except (ValueError, binascii.Error):
            raise malformed("not three base64url JSON parts") from None
        key: rsa.RSAPublicKey | None = None
        thumbprint = header.get("x5t#S256") or header.get("x5t") or ""
        if "x5t#S256" in header:
            key = app.sha256_keys.get(_b64url(header["x5t#S256"]))
        elif "x5t" in header:
            key = app.sha1_keys.get(_b64url(header["x5t"]))
        if key is None:
            raise TokenEndpointError(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not "
                "registered on application. [Reason - The key was not found., Thumbprint of "
                f"key used by client: '{thumbprint}']",
            )
        signed = f"{head_b64}.{claims_b64}".encode()
        try:
            if header.get("alg") == "PS256":
                key.verify(
                    signature,
                    signed,
                    padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                    hashes.SHA256(),
                )
            elif header.get("alg") == "RS256":
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            else:
                raise malformed(f"unsupported alg {header.get('alg')!r}")
        except InvalidSignature:
            raise TokenEndpointError(
                401, "invalid_client", 7000274, "Client assertion failed signature validation."
            ) from None
        if claims.get("aud") != token_endpoint:
            raise TokenEndpointError(
                401,
                "invalid_client",
                700212,
                f"No matching federated identity record found for presented assertion "
                f"audience '{claims.get('aud')}'.",
            )
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
            raise malformed("iss and sub must be the client id")
        # Checked against the simulator's clock, like every other time here: a test that
        # moves the clock far should use a secret, since msal stamps assertions with
        # the real time.
        now = self.clock().timestamp()
        skew = 300
        if not (
            claims.get("nbf", claims.get("iat", 0)) - skew <= now < claims.get("exp", 0) + skew
        ):
            raise TokenEndpointError(
                401,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            )

    def _issue(self, app: App) -> dict[str, object]:
        token = "sim." + secrets.token_urlsafe(32)
        lifetime = self.token_lifetime
        self.tokens[token] = AccessToken(app, self.clock() + timedelta(seconds=lifetime))
        self.tokens_issued += 1
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }

    # -- Graph's side ----------------------------------------------------------
    def authenticate(self, authorization: str | None) -> App:
        """The app behind a ``Bearer`` header, or a 401 GraphError as Graph answers."""
        if not authorization or not authorization.startswith("Bearer "):
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        found = self.tokens.get(authorization[7:].strip())
        if found is None:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "IDX14100: JWT is not well formed, there are no dots (.).",
            )
        if self.clock() >= found.expires:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
        return found.app


def require(app: App, *any_of: str) -> None:
    """403 unless ``app`` holds one of the permissions ``any_of``."""
    if not app.permissions.intersection(any_of):
        raise GraphError(
            403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
        )
