"""The client side of the platform HTTP API (docs/API.md) over requests.

One `PlatformClient` per (platform URL, credential): a session with connect/read timeouts,
retries for idempotent calls only (GET, PUT, DELETE; a POST is retried only when the connection
was never made), TLS verification on. This module is the one boundary where requests/urllib3
errors and HTTP error answers become kalavai_like.errors types, so a person reads
"Platform unreachable at http://...: connection refused" and never a traceback.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kalavai_like import __version__
from kalavai_like.errors import (
    PLATFORM_KINDS,
    AuthError,
    InvalidInput,
    PlatformUnavailable,
    error_for_status,
    error_from_dict,
)

if TYPE_CHECKING:
    import requests

API = "/api/v1"
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_CAUSES = [
    (re.compile(r"refused", re.I), "connection refused"),
    (
        re.compile(r"resolve|Name or service not known|nodename nor servname", re.I),
        "name not found",
    ),
    (re.compile(r"reset by peer|RemoteDisconnected|closed connection", re.I), "connection closed"),
    (re.compile(r"No route to host", re.I), "no route to host"),
    (re.compile(r"Network is unreachable", re.I), "network unreachable"),
]


def _url(text: str) -> str:
    from kalavai_like.tokens import normalize_platform_url

    try:
        return normalize_platform_url(text)
    except (ValueError, AttributeError):
        raise InvalidInput(
            "Invalid platform URL", f"{text!r}: use http://HOST:PORT or https://HOST."
        ) from None


class PlatformClient:
    """Calls to one platform, as one credential (or anonymously for sign-up and log-in)."""

    def __init__(
        self,
        base_url: str,
        credential: str | None = None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        retries: int = 2,
        verify: bool | str = True,
    ) -> None:
        self.base_url = _url(base_url)
        self.credential = credential
        self.timeout = (connect_timeout, read_timeout)
        self.retries = retries
        self.verify = verify
        self._session: requests.Session | None = None

    def __repr__(self) -> str:  # never shows the credential
        return f"PlatformClient({self.base_url!r})"

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = self._new_session()
        return self._session

    def _new_session(self) -> requests.Session:
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        retry = Retry(
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            other=0,
            allowed_methods=IDEMPOTENT,  # reads and status retries only for these
            status_forcelist=(502, 503, 504),
            backoff_factor=0.2,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        session = requests.Session()
        session.verify = self.verify
        session.headers["User-Agent"] = f"kalavai-like/{__version__}"
        session.headers["Accept"] = "application/json"
        adapter = HTTPAdapter(max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one boundary -------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> Any:
        """Call `path` (under /api/v1 unless it starts with /healthz) and return the JSON answer.

        Raises:
            AuthError: not logged in, wrong credentials or not allowed.
            PlatformUnavailable: unreachable, timed out, TLS failure, 5xx or a non-JSON answer.
            InvalidInput, NotFound, Conflict, TokenError: as the platform says.
        """
        headers = {}
        if auth:
            if not self.credential:
                raise AuthError("Not logged in", "Log in first: kalavai-like login")
            headers["Authorization"] = f"Bearer {self.credential}"
        url = self.base_url + (path if path.startswith("/healthz") else API + path)
        with self._translate():
            response = self.session.request(
                method, url, json=json, params=params, headers=headers, timeout=self.timeout
            )
        return self._answer(response)

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        import requests

        where = self.base_url
        try:
            try:
                yield
            except requests.exceptions.ConnectionError as exc:
                raise _timeout_behind(exc) or exc from None
        except requests.exceptions.SSLError as exc:
            raise PlatformUnavailable(
                f"TLS verification failed for {where}",
                "The platform's certificate is not trusted by this machine, so nothing was sent. "
                "If it uses a private CA, point REQUESTS_CA_BUNDLE at that CA's certificate. "
                f"({_cause(exc, 'certificate verify failed')})",
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise PlatformUnavailable(
                f"Platform unreachable at {where}: connection timed out",
                f"No connection within {self.timeout[0]:g} s. Check the URL and your network, "
                "then try again.",
            ) from None
        except requests.exceptions.ReadTimeout:
            raise PlatformUnavailable(
                f"Platform at {where} timed out",
                f"It accepted the connection but sent no answer within {self.timeout[1]:g} s. "
                "It may be overloaded: try again later (or raise platform.read_timeout in "
                "the settings).",
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise PlatformUnavailable(
                f"Platform unreachable at {where}: {_cause(exc, 'connection failed')}",
                "Check the URL (kalavai-like login --platform URL) and that the platform is "
                "running, then try again.",
            ) from None
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ):
            raise InvalidInput(
                "Invalid platform URL", f"{where}: use http://HOST:PORT or https://HOST."
            ) from None
        except requests.exceptions.RequestException as exc:
            raise PlatformUnavailable(
                f"Request to {where} failed", _cause(exc, type(exc).__name__)
            ) from None

    def _answer(self, response: requests.Response) -> Any:
        status = response.status_code
        body = _json(response)
        if status < 400:
            if status == 204 or not response.content:
                return None
            if body is _NOT_JSON:
                raise PlatformUnavailable(
                    f"Unexpected answer from {self.base_url}",
                    f"HTTP {status} with a body that is not JSON: is this a kalavai-like platform?",
                )
            return body
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("title"), str):
            raise self._error(status, error, response)
        if status >= 500:
            raise PlatformUnavailable(
                f"Platform error at {self.base_url}",
                f"The platform answered HTTP {status} {response.reason or ''}".rstrip()
                + ". This is on its side: try again later.",
            )
        if status == 429:
            raise AuthError("Too many attempts", _retry_after(response))
        kind = error_for_status(status)
        raise kind(f"HTTP {status} from {self.base_url}", response.reason or "Request refused.")

    def _error(self, status: int, error: dict[str, Any], response: requests.Response) -> Exception:
        title = str(error.get("title"))[:200]
        message = str(error.get("message") or "")[:2000]
        if status == 429:
            message = f"{message} {_retry_after(response)}".strip()
            return AuthError(title, message)
        wire = {**error, "title": title, "message": message}
        return error_from_dict(wire, kinds=PLATFORM_KINDS, default=error_for_status(status))

    # -- accounts ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/healthz", auth=False)  # type: ignore[no-any-return]

    def signup(self, email: str, password: str, display_name: str = "") -> dict[str, Any]:
        body = {"email": email, "password": password, "display_name": display_name or None}
        return self.request("POST", "/accounts", json=body, auth=False)  # type: ignore[no-any-return]

    def login(self, email: str, password: str) -> dict[str, Any]:
        """Log in; returns `{token, user: {id, email}}` (the token is the new API token)."""
        body = {"email": email, "password": password}
        return self.request("POST", "/sessions", json=body, auth=False)  # type: ignore[no-any-return]

    def logout(self) -> None:
        """Revoke the presenting API token on the platform."""
        self.request("DELETE", "/sessions/current")

    def me(self) -> dict[str, Any]:
        return self.request("GET", "/me")  # type: ignore[no-any-return]

    def sessions(self) -> list[dict[str, Any]]:
        """The user's live log-in sessions (`current` marks the presenting one)."""
        return self.request("GET", "/sessions")  # type: ignore[no-any-return]

    def revoke_session(self, session_id: str) -> None:
        self.request("DELETE", f"/sessions/{_seg(session_id)}")

    def create_account_key(self, name: str) -> dict[str, Any]:
        return self.request("POST", "/account-keys", json={"name": name})  # type: ignore[no-any-return]

    def account_keys(self) -> list[dict[str, Any]]:
        return self.request("GET", "/account-keys")  # type: ignore[no-any-return]

    def revoke_account_key(self, key_id: str) -> None:
        self.request("DELETE", f"/account-keys/{_seg(key_id)}")

    # -- pools and join tokens --------------------------------------------------------------

    def pools(self, scope: str = "community") -> list[dict[str, Any]]:
        return self.request("GET", "/pools", params={"scope": scope})  # type: ignore[no-any-return]

    def pool(self, id_or_name: str) -> dict[str, Any]:
        return self.request("GET", f"/pools/{_seg(id_or_name)}")  # type: ignore[no-any-return]

    def create_pool(
        self,
        name: str,
        template: str,
        params: dict[str, Any],
        public: bool,
        *,
        device_limits: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        """Create a pool; `device_limits` ({cores, memory_bytes, gpus}) caps what one device
        may declare (the platform's defaults otherwise)."""
        body = {"name": name, "template": template, "params": params, "public": public}
        if device_limits:
            body["device_limits"] = device_limits
        return self.request("POST", "/pools", json=body)  # type: ignore[no-any-return]

    def device_limits(
        self, id_or_name: str, changes: dict[str, int | None] | None = None
    ) -> dict[str, Any]:
        """The pool's maxima per device; with `changes` (owner), set them first (None: the
        platform's default)."""
        path = f"/pools/{_seg(id_or_name)}/device-limits"
        if changes:
            return self.request("PATCH", path, json=changes)  # type: ignore[no-any-return]
        return self.request("GET", path)  # type: ignore[no-any-return]

    def set_pool_closed(self, id_or_name: str, closed: bool) -> dict[str, Any]:
        """Close a pool you own to new members, or open it again; returns the pool."""
        body = {"closed": closed}
        return self.request("PATCH", f"/pools/{_seg(id_or_name)}", json=body)  # type: ignore[no-any-return]

    def delete_pool(self, id_or_name: str) -> None:
        """Delete a pool you own: its devices leave, its tokens stop working."""
        self.request("DELETE", f"/pools/{_seg(id_or_name)}")

    def create_token(
        self, pool_id: str, uses: int, expires_in: int, label: str | None = None
    ) -> dict[str, Any]:
        body = {"uses": uses, "expires_in": expires_in, **({"label": label} if label else {})}
        return self.request("POST", f"/pools/{_seg(pool_id)}/tokens", json=body)  # type: ignore[no-any-return]

    def join_token(self, pool_id: str) -> dict[str, Any]:
        """A fresh single-use 1 h worker token of a public pool (or one you own), for joining
        it yourself (the tray's pool list, `join-link`)."""
        return self.request("POST", f"/pools/{_seg(pool_id)}/join-token")  # type: ignore[no-any-return]

    def tokens(self, pool_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/pools/{_seg(pool_id)}/tokens")  # type: ignore[no-any-return]

    def revoke_token(self, pool_id: str, token_id: str) -> None:
        self.request("DELETE", f"/pools/{_seg(pool_id)}/tokens/{_seg(token_id)}")

    def check_token(self, token: str) -> dict[str, Any]:
        """Server-side status of a join token (send only after offline validation)."""
        return self.request("POST", "/tokens/check", json={"token": token})  # type: ignore[no-any-return]

    # -- the pool head's witness (the hub's device credential) ------------------------------

    def witness(self, report: dict[str, Any]) -> dict[str, Any]:
        """Report the pool head's cumulative witnessed totals of one scheduler epoch:
        `{epoch, seq, devices: [{device_id, tasks, compute_seconds, connected_seconds,
        threads}]}` -> `{epoch, seq, duplicate, refused: [{device_id, reason}]}`."""
        return self.request("POST", "/device/witness", json=report)  # type: ignore[no-any-return]


_NOT_JSON = object()


def _timeout_behind(exc: Exception) -> Exception | None:
    """The timeout that exhausted the retries, which requests reports as a ConnectionError."""
    import requests
    from urllib3.exceptions import (
        ConnectTimeoutError,
        MaxRetryError,
        NewConnectionError,
        ReadTimeoutError,
    )

    reason = exc.args[0] if exc.args else None
    reason = reason.reason if isinstance(reason, MaxRetryError) else reason
    # NewConnectionError (refused, unresolvable) subclasses ConnectTimeoutError in urllib3.
    if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
        return requests.exceptions.ConnectTimeout(str(reason))
    if isinstance(reason, ReadTimeoutError):
        return requests.exceptions.ReadTimeout(str(reason))
    return None


def _json(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def _seg(value: str) -> str:
    """One URL path segment: never lets an id walk to another path."""
    if not value or value in (".", ".."):
        raise InvalidInput("Empty or invalid identifier", f"{value!r} is not an identifier.")
    return quote(value, safe="")


def _cause(exc: BaseException, default: str) -> str:
    text = str(exc)
    for pattern, words in _CAUSES:
        if pattern.search(text):
            return words
    if "certificate" in text.lower():
        match = re.search(r"certificate verify failed: ([^(\"')]+)", text)
        return f"certificate verify failed: {match.group(1).strip()}" if match else default
    return default


def _retry_after(response: requests.Response) -> str:
    after = response.headers.get("Retry-After", "")
    return f"Try again in {after} s." if after.isdigit() else "Try again later."
