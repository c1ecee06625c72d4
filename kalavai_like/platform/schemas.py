"""Request and response bodies of the HTTP API (pydantic), with every input bounded: bounds keep
absurd numbers, NUL bytes and huge strings away from the database, where they would become 500s
instead of a clear 422."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from kalavai_like import pool_params
from kalavai_like.platform.about import PoolAbout
from kalavai_like.platform.account_schemas import AnyPassword, DisplayName, Password
from kalavai_like.platform.bounds import CEILINGS
from kalavai_like.platform.reliability import Witnessed as Witnessed  # its home: reliability.py

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ID_LIKE = re.compile(r"^[0-9a-fA-F]{32}$")
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Label = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=254,
        pattern=r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,189}$",
    ),
]
# A WireGuard public key: base64 of 32 bytes.
PublicKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")]
TokenText = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
Reason = Annotated[str, StringConstraints(max_length=300, pattern=r"^[^\x00]*$")]
Usage = Annotated[float, Field(ge=0, le=1e13, allow_inf_nan=False)]
Weight = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]


def _check_endpoint(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("endpoint must be host:port with a port from 1 to 65535")
    if host.startswith("[") and host.endswith("]"):
        ipaddress.IPv6Address(host[1:-1])
    elif not host or len(host) > 253 or not all(c.isalnum() or c in ".-" for c in host):
        raise ValueError("endpoint host must be an IPv4 address, a DNS name or [IPv6]")
    return value


def _not_an_id(value: str) -> str:
    if ID_LIKE.match(value):
        raise ValueError(
            "a pool name must not look like a pool id (32 hex digits): lookups take either, "
            "so add a letter from g to z or a dash"
        )
    return value


Params = Annotated[dict[str, Any], AfterValidator(pool_params.check_size)]
PoolName = Annotated[Name, AfterValidator(_not_an_id)]
Endpoint = Annotated[str, StringConstraints(max_length=300), AfterValidator(_check_endpoint)]


class In(BaseModel):
    model_config = ConfigDict(extra="ignore")


# ---- requests


class Credentials(In):
    email: Email
    password: Password
    display_name: DisplayName | None = None  # none: one derived from the account's id


class LogIn(In):
    email: Email
    password: AnyPassword


class Weights(In):
    cpu: Weight = 1.0
    ram: Weight = 0.1
    gpu: Weight = 10.0


def _bounded(what: str) -> Any:
    return Field(None, ge=CEILINGS[what][0], le=CEILINGS[what][1])


class DeviceLimitsIn(In):
    """The owner's maxima for one device's declared hardware; null: the platform's default."""

    cores: int | None = _bounded("cores")
    memory_bytes: int | None = _bounded("memory_bytes")
    gpus: int | None = _bounded("gpus")


class PoolIn(In):
    name: PoolName
    template: Literal["dask", "boinc", "generic"]
    params: Params = Field(default_factory=dict)
    public: bool = False
    weights: Weights | None = None
    device_limits: DeviceLimitsIn | None = None
    about: PoolAbout = Field(default_factory=PoolAbout)


class PoolUpdate(In):
    closed: bool | None = None


class HubIn(In):
    public_key: PublicKey
    endpoint: Endpoint
    name: Name | None = None
    # No UDP port reaches the hub (NAT without a forward): devices use the relay at once.
    relay_only: bool = False


class TokenIn(In):
    uses: int = Field(1, ge=1, le=100_000)
    expires_in: int = Field(3600, ge=60, le=366 * 86400)
    label: Label | None = None  # whom it is for ("for Ana")


class TokenCheckIn(In):
    token: TokenText


class RedeemIn(In):
    token: TokenText
    public_key: PublicKey
    name: Name
    cores: int = Field(1, ge=1, le=CEILINGS["cores"][1])
    memory_bytes: int = Field(0, ge=0, le=CEILINGS["memory_bytes"][1])
    gpus: int = Field(0, ge=0, le=CEILINGS["gpus"][1])


class DesiredIn(In):
    state: Literal["running", "paused"]


class Counters(In):
    cpu_seconds: Usage = 0.0
    ram_gb_seconds: Usage = 0.0
    gpu_seconds: Usage = 0.0
    # When the device sampled them (its clock, epoch seconds): bounds claims by the time it
    # measured over, checked against the server's clock (kalavai_like.platform.ledger).
    sampled_at: Annotated[float, Field(ge=0, le=1e11, allow_inf_nan=False)] | None = None


class HeartbeatIn(In):
    seq: int = Field(ge=1, le=2**62)
    state: Literal["running", "paused", "error", "leaving"]
    reason: Reason | None = None
    counters: Counters = Field(default_factory=Counters)


# ---- responses


class ErrorBody(BaseModel):
    kind: str
    title: str
    message: str
    reason: str | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


class UserOut(BaseModel):
    id: str
    email: str
    created_at: str
    display_name: str = ""


class UserRef(BaseModel):
    """A user as others see them: the display name; the email only when it is the caller's."""

    id: str
    display: str = ""
    email: str | None = None


class SessionOut(BaseModel):
    token: str
    user: UserRef


class SessionInfo(BaseModel):
    """One of a user's log-ins, as their list of sessions shows it (never the token)."""

    id: str
    kind: Literal["api", "web"]
    created_at: str
    last_used_at: str | None
    expires_at: str | None
    client_address: str | None
    user_agent: str | None
    current: bool


class AccountKeyOut(BaseModel):
    id: str
    name: str
    created_at: str
    last_used_at: str | None
    revoked: bool


class AccountKeyCreated(BaseModel):
    id: str
    name: str
    key: str
    created_at: str


class WeightsOut(BaseModel):
    cpu: float
    ram: float
    gpu: float


class HubOut(BaseModel):
    public_key: str
    endpoint: str
    address: str
    relay_only: bool = False


class PoolOwner(BaseModel):
    """Who owns a pool: the email only for the owner, never for anyone else."""

    id: str
    display: str
    email: str | None = None


class PoolOut(BaseModel):
    id: str
    name: str
    owner: PoolOwner
    template: str
    params: dict[str, Any]
    public: bool
    closed: bool
    subnet: str
    subnet6: str
    weights: WeightsOut
    members: int
    hub: HubOut | None
    created_at: str
    # Marked by the platform's operator: its witness counts beyond the pool.
    trusted: bool = False
    # Who backs its granted credit: see WitnessKind (generic and boinc pools: unverified).
    witness: WitnessKind = "none"
    about: PoolAbout = Field(default_factory=PoolAbout)  # the owner's words for its page
    running: bool = False  # its hub is registered and has not left: only then can anyone join


class HubRegistered(BaseModel):
    device_id: str
    credential: str
    address: str
    address6: str
    pool: PoolOut


class TokenOut(BaseModel):
    id: str
    uses: int
    used: int
    expires_at: str
    revoked: bool
    created_at: str
    label: str | None = None


class TokenCreated(TokenOut):
    token: str


class PoolRef(BaseModel):
    id: str
    name: str


class TokenCheckOut(BaseModel):
    status: Literal["valid", "expired", "used_up", "revoked", "unknown"]
    pool: PoolRef | None
    uses: int | None
    used: int | None
    expires_at: str | None


class Totals(BaseModel):
    cpu_core_hours: float = 0.0
    ram_gb_hours: float = 0.0
    gpu_hours: float = 0.0
    credit: float = 0.0
    recent_average: float = 0.0


# Who backs a pool's granted credit: a trusted pool's head, the pool's owner's head, or nobody
# (a template without a witness: its credit is unverified).
WitnessKind = Literal["trusted", "owner", "none"]


class DeviceOut(BaseModel):
    id: str
    name: str
    pool_id: str
    role: str
    address: str | None
    address6: str | None
    public_key: str
    state: str
    reason: str | None
    desired_state: str
    cores: int
    memory_bytes: int
    gpus: int
    last_heartbeat_at: str | None
    totals: Totals
    clamped: Totals
    created_at: str
    left_at: str | None
    pending: Totals = Field(default_factory=Totals)
    unverified: Totals = Field(default_factory=Totals)
    witnessed: Witnessed = Field(default_factory=Witnessed)
    witness: WitnessKind = "none"


class PoolDeviceOut(DeviceOut):
    user: UserRef


class WorkerSpec(BaseModel):
    template: str
    params: dict[str, Any]
    head_address: str
    limits: dict[str, Any] | None = None


class Redeemed(BaseModel):
    device: DeviceOut
    credential: str
    pool: PoolOut
    hub: HubOut | None
    worker: WorkerSpec


class HeartbeatOut(BaseModel):
    seq: int
    duplicate: bool
    desired_state: str
    granted: Totals
    clamped: Totals
    pending: Totals = Field(default_factory=Totals)
    unverified: Totals = Field(default_factory=Totals)
    witnessed: Witnessed = Field(default_factory=Witnessed)


class Health(BaseModel):
    ok: bool
    version: str
    database: Literal["sqlite", "postgresql"]
