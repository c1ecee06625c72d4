"""Pools: create, list, show, register the hub, and the pool owner's join tokens."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import case, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from kalavai_like import pool_params, tokens
from kalavai_like.errors import Conflict, InvalidInput, TokenError
from kalavai_like.platform import bounds, credentials, ipam, peers, quotas
from kalavai_like.platform.api import HexId, revoke
from kalavai_like.platform.auth import Db, Principal, Settings, User
from kalavai_like.platform.db import oldest_first
from kalavai_like.platform.models import Device, JoinTokenRow, Pool, PoolBan, now
from kalavai_like.platform.problems import Problem, forbidden, not_found
from kalavai_like.platform.schemas import (
    NAME_PATTERN,
    HubIn,
    HubRegistered,
    PoolIn,
    PoolOut,
    PoolRef,
    TokenCheckIn,
    TokenCheckOut,
    TokenCreated,
    TokenIn,
    TokenOut,
)
from kalavai_like.platform.settings import PlatformSettings
from kalavai_like.platform.views import hub_out, iso, iso_req, pool_out, pools_out

router = APIRouter(prefix="/api/v1", tags=["pools"])
LABEL_RULE = "A join token's label is 1 to 64 printable characters (no control or format ones)."
PoolKey = Annotated[str, Path(pattern=NAME_PATTERN, description="pool id or name")]


def by_key(s: Session, key: str, *, lock: bool = False) -> Pool | None:
    """The live pool with id `key`, else the one named `key` (an id wins over a name that
    looks like one, which older pools may have)."""
    stmt = (
        select(Pool)
        .where(or_(Pool.id == key, Pool.name == key), Pool.deleted_at.is_(None))
        .order_by(case((Pool.id == key, 0), else_=1))
        .limit(1)
    )
    # FOR UPDATE serialises hub and address changes per pool on PostgreSQL (SQLite ignores it).
    return s.scalars(stmt.with_for_update() if lock else stmt).first()


def visible_pool(s: Session, who: Principal, key: str, *, lock: bool = False) -> Pool:
    """A pool the caller may see (public or owned), by id or name; else 404."""
    pool = by_key(s, key, lock=lock)
    if pool is None or not (pool.public or pool.owner_id == who.user_id):
        raise not_found("pool")
    return pool


def owned_pool(s: Session, who: Principal, key: str, *, lock: bool = False) -> Pool:
    """A pool the caller owns: 403 if it is someone else's public pool, 404 if hidden."""
    pool = visible_pool(s, who, key, lock=lock)
    if pool.owner_id != who.user_id:
        raise forbidden("Only the pool's owner can do that.")
    return pool


def not_running() -> Conflict:
    """A join of a pool without a hub could not work: refused before any token use."""
    return Conflict(
        "Pool not running yet",
        "This pool is not running yet: ask its owner to start it (kalavai-like pool start). "
        "No join token was used.",
    )


def check_open(pool: Pool, user_id: str) -> None:
    """Refuse a user the pool's owner banned, and a new member of a closed pool (its owner
    may still add devices).

    Raises:
        Problem: 403 TokenError `banned` or `pool_closed`.
    """
    s = object_session(pool)
    if s is not None and s.get(PoolBan, (pool.id, user_id)) is not None:
        raise Problem(
            403,
            TokenError(
                "banned",
                "Banned from this pool",
                f"The owner of pool '{pool.name}' removed you from it and does not let you "
                "join again. Join another pool.",
            ),
        )
    if pool.closed and pool.owner_id != user_id:
        raise Problem(
            403,
            TokenError(
                "pool_closed",
                "Pool closed to new members",
                f"The owner of pool '{pool.name}' closed it to new members for now. "
                "Ask them to open it again, or join another pool.",
            ),
        )


@router.post("/pools", status_code=201, response_model=PoolOut)
def create_pool(body: PoolIn, who: User, db: Db, cfg: Settings) -> PoolOut:
    """Create a pool with its own IPv4 subnet (from the pool space) and ULA /64; its template
    parameters must be ones a worker can run with (kalavai_like.pool_params)."""
    pool_params.check(body.template, body.params)
    weights = body.weights.model_dump() if body.weights else cfg.default_weights
    bounds.check_weights(cfg, weights)
    limits = body.device_limits.model_dump() if body.device_limits else {}
    taken = Conflict("Pool name taken", f"A pool named '{body.name}' exists; pick another name.")
    space = ipam.Space(cfg.pool_space, cfg.pool_prefix)
    for _attempt in range(5):
        try:
            with db.write() as s:
                t = now()
                quotas.check_pools(s, cfg, who.user_id, t)
                if by_key(s, body.name) is not None:
                    raise taken
                subnet, index = ipam.pick_subnet(s, body.name, space, t, cfg.address_holdback)
                pool = Pool(
                    name=body.name,
                    owner_id=who.user_id,
                    template=body.template,
                    params=json.dumps(body.params),
                    public=body.public,
                    subnet=subnet,
                    subnet_index=index,
                    weight_cpu=weights["cpu"],
                    weight_ram=weights["ram"],
                    weight_gpu=weights["gpu"],
                    max_cores=limits.get("cores"),
                    max_memory_bytes=limits.get("memory_bytes"),
                    max_gpus=limits.get("gpus"),
                    **body.about.model_dump(),  # description, computes, run_by: same names
                )
                s.add(pool)
                s.flush()
                return pool_out(s, pool, who.user_id)
        except IntegrityError:
            continue  # a concurrent create took the name or the subnet: look again
    raise taken


@router.get("/pools", response_model=list[PoolOut])
def list_pools(
    who: User, db: Db, scope: Annotated[Literal["community", "mine"], Query()] = "community"
) -> list[PoolOut]:
    """Community (public) pools, or the pools you own."""
    with db.read() as s:
        where = Pool.public.is_(True) if scope == "community" else Pool.owner_id == who.user_id
        rows = oldest_first(s, Pool, where, Pool.deleted_at.is_(None))
        return pools_out(s, list(rows), who.user_id)


@router.get("/pools/{pool_key}", response_model=PoolOut)
def show_pool(pool_key: PoolKey, who: User, db: Db) -> PoolOut:
    with db.read() as s:
        return pool_out(s, visible_pool(s, who, pool_key), who.user_id, secrets=True)


@router.post("/pools/{pool_key}/hub", status_code=201, response_model=HubRegistered)
def register_hub(
    pool_key: PoolKey, body: HubIn, who: User, db: Db, request: Request
) -> HubRegistered:
    """Register (or re-register) the seed as the pool's hub at overlay .1. A pool made before
    its parameters were checked is not started while no worker could run them."""
    credential = credentials.new(credentials.DEVICE)
    with db.write() as s:
        pool = owned_pool(s, who, pool_key, lock=True)
        pool_params.check(pool.template, json.loads(pool.params))
        clash = s.scalars(
            select(Device.id).where(
                Device.pool_id == pool.id,
                Device.public_key == body.public_key,
                Device.role == "worker",
                Device.left_at.is_(None),
            )
        ).first()
        if clash:
            raise Conflict("Key in use", "A worker of this pool uses that public key.")
        hub = s.get(Device, pool.hub_device_id) if pool.hub_device_id else None
        if hub is None:
            hub = Device(user_id=who.user_id, pool_id=pool.id, role="hub", cores=0)
            s.add(hub)
        hub.name = body.name or f"{pool.name}-hub"[:64]
        hub.public_key = body.public_key
        hub.credential_hash = credentials.digest(credential)
        hub.left_at = None
        hub.state = "running"
        hub.address_index = ipam.HUB_INDEX
        s.flush()
        ipam.take_hub(s, pool.id, hub.id)
        pool.hub_device_id, pool.hub_endpoint = hub.id, body.endpoint
        pool.hub_relay_only = body.relay_only
        peers.bump(s, pool.id)
        s.flush()
        s.refresh(pool)
        ula = ipam.ula_prefix(s)
        result = HubRegistered(
            device_id=hub.id,
            credential=credential,
            address=ipam.address(pool.subnet, ipam.HUB_INDEX),
            address6=ipam.address6(ula, pool.subnet_index, ipam.HUB_INDEX),
            pool=pool_out(s, pool, who.user_id, secrets=True),  # the seed's witness reads them
        )
    request.app.state.peers.notify(pool.id)
    return result


@router.post("/pools/{pool_key}/tokens", status_code=201, response_model=TokenCreated)
def create_token(
    pool_key: PoolKey, body: TokenIn, who: User, db: Db, cfg: Settings
) -> TokenCreated:
    """Mint a join token (single-use and 1 h unless told otherwise). Shown once."""
    with db.write() as s:
        pool = owned_pool(s, who, pool_key)
        return mint_token(s, cfg, pool, who.user_id, body)


@router.post("/pools/{pool_key}/join-token", status_code=201, response_model=TokenCreated)
def join_token(pool_key: PoolKey, who: User, db: Db, cfg: Settings) -> TokenCreated:
    """A fresh single-use, 1 h worker token of a public pool (or one you own): what the web
    page's Join reveals, for the tray app. A worker token only adds a worker."""
    with db.write() as s:
        return mint_for_joiner(s, cfg, who, pool_key)[1]


def mint_for_joiner(
    s: Session, cfg: PlatformSettings, who: Principal, pool_key: str
) -> tuple[Pool, TokenCreated]:
    """The pool and a single-use 1 h worker token of it for `who` (Join: the API and the page).

    Raises:
        Problem: 404 no such pool for you, 403 closed, 429 past the minting rate.
        Conflict: the pool is not running yet (no hub): a token of it could not be used.
    """
    pool = visible_pool(s, who, pool_key)
    check_open(pool, who.user_id)
    if hub_out(s, pool) is None:
        raise not_running()
    return pool, mint_token(s, cfg, pool, who.user_id, TokenIn(uses=1, expires_in=3600))


def mint_token(
    s: Session, cfg: PlatformSettings, pool: Pool, user_id: str, body: TokenIn
) -> TokenCreated:
    """Store a new worker token for `pool` (only its secret's hash); the text is in the reply.

    Raises:
        Problem: 429 past the user's minting rate (quotas.check_mints).
    """
    if body.label is not None and not body.label.isprintable():  # bidi and invisible ones too
        raise Problem(422, InvalidInput("Invalid label", LABEL_RULE))
    t = now()
    quotas.check_mints(s, cfg, user_id, t)
    expires_at = int(t) + body.expires_in
    text, parsed = tokens.mint(
        platform=cfg.platform_url, pool_id=pool.id, pool_name=pool.name, expires_at=expires_at
    )
    row = JoinTokenRow(
        pool_id=pool.id,
        key_id=parsed.key_id,
        secret_hash=tokens.secret_hash(parsed.secret),
        tier=parsed.tier,
        uses=body.uses,
        expires_at=float(expires_at),
        created_by=user_id,
        created_at=t,
        label=body.label,
    )
    s.add(row)
    s.flush()
    return TokenCreated(token=text, **token_out(row).model_dump())


@router.get("/pools/{pool_key}/tokens", response_model=list[TokenOut])
def list_tokens(pool_key: PoolKey, who: User, db: Db) -> list[TokenOut]:
    with db.read() as s:
        pool = owned_pool(s, who, pool_key)
        rows = oldest_first(s, JoinTokenRow, JoinTokenRow.pool_id == pool.id)
        return [token_out(r) for r in rows]


def token_out(r: JoinTokenRow) -> TokenOut:
    return TokenOut(
        id=r.id,
        uses=r.uses,
        used=r.used,
        expires_at=iso_req(r.expires_at),
        revoked=r.revoked_at is not None,
        created_at=iso_req(r.created_at),
        label=r.label,
    )


@router.delete("/pools/{pool_key}/tokens/{token_id}", status_code=204)
def revoke_token(pool_key: PoolKey, token_id: HexId, who: User, db: Db) -> Response:
    """Revoke a join token: it can enrol nobody from now on."""
    with db.write() as s:
        pool = owned_pool(s, who, pool_key)
        revoke(s, JoinTokenRow, token_id, "token", lambda row: row.pool_id == pool.id)
    return Response(status_code=204)


def lookup_token(
    s: Session, cfg: PlatformSettings, text: str
) -> tuple[tokens.JoinToken, JoinTokenRow | None]:
    """Parse a token and find its row (None if unknown or the secret does not match).

    Raises:
        TokenError: damaged, version or other_platform.
    """
    parsed = tokens.parse(text)
    if parsed.platform != cfg.platform_url:
        raise TokenError(
            "other_platform",
            "Token is for another platform",
            f"This token is for {parsed.platform}; this platform is {cfg.platform_url}.",
        )
    row = s.scalars(select(JoinTokenRow).where(JoinTokenRow.key_id == parsed.key_id)).first()
    if row is None or row.pool_id != parsed.pool_id:
        return parsed, None
    if not tokens.secret_matches(parsed.secret, row.secret_hash):
        return parsed, None
    return parsed, row


def token_status(row: JoinTokenRow | None, t: float) -> str:
    if row is None:
        return "unknown"
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at <= t:
        return "expired"
    if row.used >= row.uses:
        return "used_up"
    return "valid"


@router.post("/tokens/check", response_model=TokenCheckOut)
def check_token(body: TokenCheckIn, who: User, db: Db, cfg: Settings) -> TokenCheckOut:
    """Say whether a join token would work now, without using it."""
    with db.read() as s:
        _parsed, row = lookup_token(s, cfg, body.token)
        status = token_status(row, now())
        if row is None:
            return TokenCheckOut(status="unknown", pool=None, uses=None, used=None, expires_at=None)
        pool = s.get(Pool, row.pool_id)
        return TokenCheckOut(
            status=status,  # type: ignore[arg-type]
            pool=PoolRef(id=pool.id, name=pool.name) if pool else None,
            uses=row.uses,
            used=row.used,
            expires_at=iso(row.expires_at),
        )
