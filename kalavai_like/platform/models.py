"""The platform's tables (SQLAlchemy 2 declarative models). Times are UTC epoch seconds."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return uuid.uuid4().hex


def now() -> float:
    return time.time()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Float, default=now)
    # The platform's operator: trusts pools and suspends users. Never set by sign-up.
    operator: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    suspended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # What others see instead of the email (kalavai_like.platform.accounts_store.DisplayName).
    display_name: Mapped[str] = mapped_column(String(64), server_default="")


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # A log-in ends after a while unused: each use moves this forward (sessions.renew).
    # None only on rows from before expiry existed, until their next use.
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_used_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Where the log-in came from, for the user's list of sessions: "web" (the session cookie)
    # or "api" (the CLI, the tray, scripts), the client address and its User-Agent.
    kind: Mapped[str] = mapped_column(String(8), default="api", server_default="api")
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(200), nullable=True)


class AccountKey(Base):
    __tablename__ = "account_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    last_used_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    # A live key's name is unique per user (revoke takes the name); revoked keys free theirs.
    __table_args__ = (
        Index(
            "uq_account_keys_user_live_name", "user_id", "name", unique=True,
            sqlite_where=text("revoked_at IS NULL"), postgresql_where=text("revoked_at IS NULL"),
        ),
    )  # fmt: skip


class PasswordReset(Base):
    """A password-reset link sent by email: single use, short-lived, only its SHA-256 kept."""

    __tablename__ = "password_resets"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    expires_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class LoginFailure(Base):
    """A throttle's counter per key (kalavai_like.platform.throttle): failed log-ins per client
    address (`ip:`), per account (`email:`) and per address and account (`guess:`), and
    sign-ups and password-reset requests per client address (`signup:`, `reset:`). `last_at`
    is the latest counted attempt."""

    __tablename__ = "login_failures"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[float] = mapped_column(Float)
    last_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class PlatformMeta(Base):
    __tablename__ = "platform_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class Pool(Base):
    __tablename__ = "pools"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    template: Mapped[str] = mapped_column(String(16))
    params: Mapped[str] = mapped_column(Text, default="{}")
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    # Closed to new members: redeeming a token fails for anyone but the owner.
    closed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Marked by the platform's operator: the pool's witness counts beyond the pool itself.
    trusted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The owner's maxima for one device's declared hardware (None: the platform's default).
    max_cores: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_memory_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_gpus: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The pool's IPv4 subnet (kalavai_like.platform.ipam); set for every pool (migration 0003
    # gave older pools their 10.<subnet_index>.0.0/16), nullable only so SQLite could add it.
    subnet: Mapped[str] = mapped_column(String(18), nullable=True)
    # Its IPv6 subnet is <ula>:<subnet_index hex>::/64 (a reclaimed deleted pool's is negative).
    subnet_index: Mapped[int] = mapped_column(Integer, unique=True)
    weight_cpu: Mapped[float] = mapped_column(Float)
    weight_ram: Mapped[float] = mapped_column(Float)
    weight_gpu: Mapped[float] = mapped_column(Float)
    hub_device_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    hub_endpoint: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # The hub has no UDP port devices can reach (a seed behind NAT): devices go by the relay.
    hub_relay_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Where the platform POSTs the owner's notices (kalavai_like.platform.notices); None: none.
    webhook_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    peer_version: Mapped[int] = mapped_column(BigInteger, default=0)
    # The owner's words for the public page (kalavai_like.platform.about bounds them).
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    computes: Mapped[str] = mapped_column(String(200), default="", server_default="")
    run_by: Mapped[str] = mapped_column(String(120), default="", server_default="")
    created_at: Mapped[float] = mapped_column(Float, default=now)
    # A deleted pool keeps its row for the credit earned in it; its name becomes its id.
    deleted_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class JoinTokenRow(Base):
    __tablename__ = "join_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(16))
    uses: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[float] = mapped_column(Float, default=now)
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)  # "for Ana"

    # Counts a user's recent mints (the minting rate limit).
    __table_args__ = (Index("ix_join_tokens_creator_time", "created_by", "created_at"),)


class Device(Base):
    """A worker or hub in one pool. Usage columns are seconds (core-s, GiB-s, GPU-s)."""

    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), index=True)
    role: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(String(44))
    credential_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    address_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cores: Mapped[int] = mapped_column(Integer, default=1)
    memory_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    gpus: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="joining")
    reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    desired_state: Mapped[str] = mapped_column(String(16), default="running")
    # The join token of the latest enrolment, until the device leaves (kalavai_like.platform.
    # api.devices gives its use back when that join never completed).
    join_token_id: Mapped[str | None] = mapped_column(ForeignKey("join_tokens.id"), nullable=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    base_cpu: Mapped[float] = mapped_column(Float, default=0.0)
    base_ram: Mapped[float] = mapped_column(Float, default=0.0)
    base_gpu: Mapped[float] = mapped_column(Float, default=0.0)
    base_at: Mapped[float] = mapped_column(Float, default=now)
    last_heartbeat_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    measured_cpu: Mapped[float] = mapped_column(Float, default=0.0)
    measured_ram: Mapped[float] = mapped_column(Float, default=0.0)
    measured_gpu: Mapped[float] = mapped_column(Float, default=0.0)
    granted_cpu: Mapped[float] = mapped_column(Float, default=0.0)
    granted_ram: Mapped[float] = mapped_column(Float, default=0.0)
    granted_gpu: Mapped[float] = mapped_column(Float, default=0.0)
    measured_credit: Mapped[float] = mapped_column(Float, default=0.0)
    credit: Mapped[float] = mapped_column(Float, default=0.0)
    recent_avg: Mapped[float] = mapped_column(Float, default=0.0)
    recent_avg_time: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    left_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The ledger (kalavai_like.platform.ledger). This session (since enrolment or rejoin): its
    # start, the device clock's reading for that start, the time it measured over, its usage.
    session_at: Mapped[float] = mapped_column(Float, default=now, server_default="0")
    sample_origin: Mapped[float | None] = mapped_column(Float, nullable=True)
    session_span: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    session_cpu: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    session_ram: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    session_gpu: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # Measured usage within the declared hardware; of it, what no witness will back any more.
    claimed_cpu: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    claimed_ram: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    claimed_gpu: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    unverified_cpu: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    unverified_ram: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    unverified_gpu: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # Claims up to mark_* turn unverified at mark_due, all claims at claim_due, if unwitnessed.
    mark_due: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    mark_cpu: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    mark_ram: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    mark_gpu: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    claim_due: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # What the pool's head witnessed (sums over epochs); witness_rev counts witness writes.
    witnessed_tasks: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    witnessed_cpu: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    witnessed_connected: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    witness_rev: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Its reliability record (platform/reliability.py): judged results, invalid compute.
    results_valid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    results_invalid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    results_error: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    invalid_cpu: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # The recent average at the platform's standard rates (the leaderboard's), same time column.
    std_recent_avg: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # When the owner's webhook was told this device went offline / claims ran above its
    # witness (cleared once that is over, so the next time is told again).
    offline_notified_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    claims_notified_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (Index("ix_devices_pool_user", "pool_id", "user_id"),)


class PoolBan(Base):
    """A user the pool's owner banned: they can redeem none of the pool's join tokens."""

    __tablename__ = "pool_bans"
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class AddressLease(Base):
    """One overlay address of a pool; `device_id` holds it, `released_at` starts the hold-back."""

    __tablename__ = "address_leases"
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    released_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (UniqueConstraint("device_id"),)


class UsageDay(Base):
    """Per device per UTC day: granted, unverified and clamped usage and credit."""

    __tablename__ = "usage_days"
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    pool_id: Mapped[str] = mapped_column(String(32))
    cpu: Mapped[float] = mapped_column(Float, default=0.0)
    ram: Mapped[float] = mapped_column(Float, default=0.0)
    gpu: Mapped[float] = mapped_column(Float, default=0.0)
    credit: Mapped[float] = mapped_column(Float, default=0.0)
    clamped_cpu: Mapped[float] = mapped_column(Float, default=0.0)
    clamped_ram: Mapped[float] = mapped_column(Float, default=0.0)
    clamped_gpu: Mapped[float] = mapped_column(Float, default=0.0)
    unverified_cpu: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    unverified_ram: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    unverified_gpu: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    unverified_credit: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")

    __table_args__ = (
        Index("ix_usage_days_user_day", "user_id", "day"),
        Index("ix_usage_days_pool_day", "pool_id", "day"),
    )


class WitnessReport(Base):
    """What a pool's head witnessed of one device in one scheduler epoch: the largest
    cumulative totals reported (a replayed or older report changes nothing)."""

    __tablename__ = "witness_reports"
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32), primary_key=True)
    tasks: Mapped[int] = mapped_column(BigInteger, default=0)
    compute_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    connected_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    threads: Mapped[int] = mapped_column(Integer, default=1)
    valid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    invalid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    errors: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    invalid_compute_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    updated_at: Mapped[float] = mapped_column(Float, default=now)


class WitnessEpoch(Base):
    """One scheduler epoch of a pool's head: the highest report sequence number seen."""

    __tablename__ = "witness_epochs"
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now)
