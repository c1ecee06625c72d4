"""`kalavai-like platform serve`: run the platform server in this process; `platform operator
add | remove | list`: give or take the operator role, on the server's database directly.

Its SQLite database goes to the instance's data dir (`<data>/platform`, so `--home` keeps
instances apart) unless --data-dir or a PostgreSQL --database-url says otherwise.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kalavai_like.cli import console, context
from kalavai_like.cli.options import JsonOpt
from kalavai_like.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from kalavai_like.platform.db import Database
    from kalavai_like.platform.settings import PlatformSettings

app = typer.Typer(
    help="Run the platform server (accounts, pools, tokens, credit).", no_args_is_help=True
)
operator_app = typer.Typer(
    help="Give or take the operator role (trusts pools, suspends users), on the server.",
    no_args_is_help=True,
)
app.add_typer(operator_app, name="operator")


def default_data_dir() -> Path:
    """Where the platform keeps its SQLite database without --data-dir: the instance's data."""
    return context.paths().data / "platform"


SignupsOpt = Annotated[
    int,
    typer.Option(
        help="Accounts one client address may create per hour.",
        envvar="KALAVAI_LIKE_SIGNUPS_PER_HOUR",
    ),
]
SessionDaysOpt = Annotated[
    float, typer.Option(help="Days a log-in (CLI or web) lasts unused; each use renews it.")
]
ProxiesOpt = Annotated[
    str,
    typer.Option(
        help="Comma-separated addresses of your reverse proxies: only requests from them may "
        "say who the client is (X-Forwarded-For) and that it came over TLS. Default: none "
        "(throttles count the connecting address).",
        envvar="KALAVAI_LIKE_TRUSTED_PROXIES",
    ),
]


DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        help="Where the SQLite database lives (default: the data dir of --home, else your OS's).",
        envvar="KALAVAI_LIKE_PLATFORM_DATA_DIR",
    ),
]
DatabaseOpt = Annotated[
    str,
    typer.Option(
        help="postgresql://... to use PostgreSQL (default: SQLite in the data dir). "
        "Prefer the environment variable: it keeps a password out of `ps`.",
        envvar="KALAVAI_LIKE_DATABASE_URL",
    ),
]
DatabaseFileOpt = Annotated[
    Path | None,
    typer.Option(
        help="A file holding the database URL (a systemd credential, a Kubernetes Secret), "
        "instead of --database-url.",
        envvar="KALAVAI_LIKE_DATABASE_URL_FILE",
    ),
]
PublicUrlOpt = Annotated[
    str,
    typer.Option(
        help="URL clients use to reach this platform (baked into join tokens). "
        "Default: http://HOST:PORT.",
        envvar="KALAVAI_LIKE_PUBLIC_URL",
    ),
]
RelayPortOpt = Annotated[
    int | None,
    typer.Option(
        help="Also run the relay (WireGuard over TCP, for devices whose UDP is blocked) on this "
        "TCP port, in a process of its own; 0 picks a free one. Default: no relay. Devices are "
        "told HOST:PORT with the public URL's host unless --set relay_addresses=... says.",
        envvar="KALAVAI_LIKE_RELAY_PORT",
    ),
]
RelayHostOpt = Annotated[
    str | None, typer.Option(help="Address the relay listens on (default: --host).")
]
KnobOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="NAME=VALUE",
        help="Tune a policy setting (repeat): pool_space, pool_prefix, max_pools_per_user, "
        "max_devices_per_user, token_mints_per_hour... (docs/API.md lists them).",
    ),
]
OperatorOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--operator",
        metavar="EMAIL",
        help="Make this existing account the platform's operator (repeat); an email with no "
        "account yet is named and skipped.",
    ),
]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(help="TCP port (0 picks a free one).", envvar="KALAVAI_LIKE_PLATFORM_PORT"),
    ] = 8700,
    data_dir: DataDirOpt = None,
    database_url: DatabaseOpt = "",
    database_url_file: DatabaseFileOpt = None,
    public_url: PublicUrlOpt = "",
    workers: Annotated[
        int, typer.Option(help="Worker processes (use more than 1 with PostgreSQL).")
    ] = 1,
    address_holdback: Annotated[
        float, typer.Option(help="Seconds a freed overlay address waits before reuse.")
    ] = 24 * 3600.0,
    signups_per_hour: SignupsOpt = 20,
    session_idle_days: SessionDaysOpt = 30.0,
    trusted_proxies: ProxiesOpt = "",
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    knob: KnobOpt = None,
    operator: OperatorOpt = None,
    relay_port: RelayPortOpt = None,
    relay_host: RelayHostOpt = None,
) -> None:
    """Serve the platform's HTTP API (migrating the database first)."""
    from kalavai_like.platform.db import private_dir

    _check(port, workers, address_holdback)
    _check_limits(signups_per_hour, session_idle_days)
    if database_url_file is not None:
        database_url = _read_database_url(database_url, database_url_file)
    data = (data_dir or default_data_dir()).expanduser().resolve()
    private_dir(data)
    sock = _listen(host, port)
    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}:{sock.getsockname()[1]}"
    public = _public(public_url or url)
    tuned: dict[str, object] = {
        "address_holdback": address_holdback, "signups_per_address": signups_per_hour,
        "signup_window": 3600.0, "session_idle_lifetime": session_idle_days * 86400,
    }  # fmt: skip
    relay = _relay_socket(relay_host or host, relay_port, public, tuned)
    cfg = _settings(data, public, database_url, tuned, knob or [])
    dialect = _prepare(cfg, operator or [])
    print(f"kalavai-like platform serving at {url} (public URL {public}, {dialect})", flush=True)
    from kalavai_like.platform.relay.serve import running_beside

    with running_beside(relay, database_url, cfg.data_dir):
        _run(cfg, sock, workers, log_level, trusted_proxies.replace(" ", ""))


def _check(port: int, workers: int, address_holdback: float) -> None:
    if not 0 <= port <= 65535:
        raise InvalidInput("Bad port", f"--port must be 1-65535 (or 0 for any); got {port}.")
    if not 1 <= workers <= 64:
        raise InvalidInput("Bad worker count", f"--workers must be 1-64; got {workers}.")
    if address_holdback < 0:
        raise InvalidInput("Bad hold-back", "--address-holdback must be 0 or more seconds.")


def _check_limits(signups_per_hour: int, session_idle_days: float) -> None:
    if signups_per_hour < 1:
        raise InvalidInput("Bad sign-up limit", "--signups-per-hour must be 1 or more.")
    if not 0.001 <= session_idle_days <= 3650:
        raise InvalidInput("Bad session lifetime", "--session-idle-days must be 0.001-3650.")


def _read_database_url(given: str, path: Path) -> str:
    """The URL in the file `path` (its first line): --database-url-file."""
    if given:
        raise InvalidInput(
            "Two database URLs", "Give --database-url or --database-url-file, not both."
        )
    try:
        with open(path, encoding="utf-8") as f:
            url = f.readline(4096).strip()
    except OSError as exc:
        raise InvalidInput(
            "Cannot read the database URL", f"{path}: {exc.strerror or exc}."
        ) from None
    except UnicodeDecodeError:
        raise InvalidInput("Cannot read the database URL", f"{path} is not text.") from None
    if not url:
        raise InvalidInput("No database URL", f"{path} is empty: write the URL on its first line.")
    return url


def _relay_socket(
    host: str, port: int | None, public: str, tuned: dict[str, object]
) -> socket.socket | None:
    """The relay's listener (None: no relay), its public address set in `tuned`."""
    if port is None:
        return None
    from kalavai_like.platform.relay.serve import advertised, listen

    relay = listen(host, port)
    tuned["relay_addresses"] = advertised(public, relay.getsockname()[1])
    return relay


def _settings(
    data: Path, public: str, database_url: str, tuned: dict[str, object], knobs: list[str]
) -> PlatformSettings:
    """The settings from the options, with `--set NAME=VALUE` knobs over them."""
    from kalavai_like.platform.settings import PlatformSettings, overrides

    try:
        return PlatformSettings(data, public, database_url, **{**tuned, **overrides(knobs)})
    except ValueError as exc:
        raise InvalidInput("Bad --set", f"{exc}.") from None


def _listen(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn to serve on."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # uvicorn takes an fd for a Unix socket and never sets TCP_NODELAY; accepted sockets
        # inherit it from here. Without it each reply waits ~40 ms for a delayed ACK (Nagle).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError as exc:
        raise InvalidInput("Cannot listen", f"{host}:{port}: {exc.strerror}.") from None
    return sock


def _public(url: str) -> str:
    from kalavai_like.tokens import normalize_platform_url

    try:
        return normalize_platform_url(url)
    except ValueError:
        raise InvalidInput("Bad public URL", "--public-url must be an http(s) URL.") from None


def _prepare(cfg: PlatformSettings, operators: list[str]) -> str:
    """Open and migrate the database, and make the `operators` that have accounts operators
    (saying so); its dialect."""
    from kalavai_like.platform.operators import grant_at_start

    with _database(cfg.resolved_database_url) as db:
        for line in grant_at_start(db, operators):
            print(line, flush=True)
        return str(db.dialect)


@contextlib.contextmanager
def _database(url: str) -> Iterator[Database]:
    """The platform's database, migrated to the newest schema.

    Raises:
        PlatformUnavailable: it cannot be opened or migrated.
    """
    from kalavai_like.errors import PlatformUnavailable
    from kalavai_like.platform.app import prepare
    from kalavai_like.platform.db import Database

    db = Database(url)
    try:
        try:
            prepare(db)
        except Exception as exc:  # a library error at the boundary: say what failed
            raise PlatformUnavailable(
                "Database unavailable", f"Could not open or migrate the database: {exc}"
            ) from None
        yield db
    finally:
        db.dispose()


def _operator_db(
    data_dir: Path | None, database_url: str
) -> contextlib.AbstractContextManager[Database]:
    """The database `platform serve` with these options uses; a SQLite one must exist.

    Raises:
        NotFound: no SQLite database in the data directory.
    """
    from kalavai_like.platform.settings import PlatformSettings

    data = (data_dir or default_data_dir()).expanduser().resolve()
    cfg = PlatformSettings(data, "http://localhost", database_url)
    if not database_url and not (data / "platform.sqlite3").exists():
        raise NotFound(
            "No platform database",
            f"There is no platform database in {data}. Give the --data-dir (or "
            "--database-url) that `kalavai-like platform serve` uses.",
        )
    return _database(cfg.resolved_database_url)


EmailArg = Annotated[str, typer.Argument(metavar="EMAIL", help="The account's email.")]


def _set_role(email: str, on: bool, data_dir: Path | None, database_url: str) -> None:
    from kalavai_like.platform.operators import set_operator

    with _operator_db(data_dir, database_url) as db:
        changed = set_operator(db, email, on)
    said = {(True, True): "is now", (True, False): "was already",
            (False, True): "is no longer", (False, False): "was not"}[on, changed]  # fmt: skip
    console.success(f"{email.strip().lower()} {said} an operator of this platform.")


@operator_app.command("add")
def operator_add(
    email: EmailArg, data_dir: DataDirOpt = None, database_url: DatabaseOpt = ""
) -> None:
    """Make an existing account an operator. Safe to repeat."""
    _set_role(email, True, data_dir, database_url)


@operator_app.command("remove")
def operator_remove(
    email: EmailArg, data_dir: DataDirOpt = None, database_url: DatabaseOpt = ""
) -> None:
    """Take the operator role from an account. Safe to repeat."""
    _set_role(email, False, data_dir, database_url)


@operator_app.command("list")
def operator_list(
    data_dir: DataDirOpt = None, database_url: DatabaseOpt = "", json: JsonOpt = False
) -> None:
    """The platform's operators."""
    from kalavai_like.platform.operators import operators

    with _operator_db(data_dir, database_url) as db:
        emails = operators(db)
    if json:
        console.emit_json(emails)
    elif not emails:
        console.note("No operators. Make one: kalavai-like platform operator add EMAIL", style="")
    else:
        for email in emails:
            console.raw(email)


def _run(
    cfg: PlatformSettings, sock: socket.socket, workers: int, log_level: str, proxies: str
) -> None:
    """Serve on `sock`; proxy headers are believed only from the `proxies` named."""
    import os

    import uvicorn

    from kalavai_like.platform.app import SETTINGS_ENV, create_app, settings_to_env
    from kalavai_like.platform.limits import BoundedHttpTools

    # BoundedHttpTools answers 431 to a request head over uvicorn's limit for one.
    fd, trusted = sock.fileno(), proxies or None
    head = cfg.max_head_bytes
    if workers == 1:
        uvicorn.run(
            create_app(cfg, migrate=False), fd=fd, log_level=log_level,
            proxy_headers=bool(proxies), forwarded_allow_ips=trusted, http=BoundedHttpTools,
            h11_max_incomplete_event_size=head,
        )  # fmt: skip
        return
    os.environ[SETTINGS_ENV] = settings_to_env(cfg)
    uvicorn.run(
        "kalavai_like.platform.app:app_from_env", factory=True, fd=fd, workers=workers,
        log_level=log_level, proxy_headers=bool(proxies), forwarded_allow_ips=trusted,
        http=BoundedHttpTools, h11_max_incomplete_event_size=head,
    )  # fmt: skip
