"""Throttles on failed log-ins and on sign-ups, counted in the database (so they hold across
replicas). Too many gets 429 with Retry-After.

Log-ins throttle the guesser, not the owner:
- per client address: `login_max_failures_per_ip` failures within `login_window` and that
  address gets 429 on every account until the window ends;
- per account: past `login_free_failures_per_account` failures, an address that has failed on
  the account waits `login_delay` s before its next try there, twice as long after each further
  failure, up to `login_max_delay`. An address that has not failed on it (the owner at home) is
  not held up, so nobody can lock an owner out; each guess past the delay needs a fresh address,
  and each address is bounded by its own limit. A good password forgets that address's failures
  on the account. The account's failures are forgotten once its wait is over and a further
  `login_window` has passed without one.
- Sign-ups: `signups_per_address` per client address within `signup_window`.

The client address is the connecting peer, or the client a trusted reverse proxy names
(`platform serve --trusted-proxies`: the server resolves it before any route runs); IPv6
addresses count per /64, which one host usually has whole. Attempts are counted before the
password is checked (and given back when it is right), so parallel guesses cannot slip past a
limit.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import random
from collections.abc import Callable

from fastapi import Request
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kalavai_like.errors import AuthError
from kalavai_like.platform.db import Database
from kalavai_like.platform.models import LoginFailure, now
from kalavai_like.platform.problems import Problem
from kalavai_like.platform.settings import PlatformSettings
from kalavai_like.units import format_duration

Rows = dict[str, LoginFailure]


def client_address(request: Request) -> str:
    """The caller's address: the peer's, or the one a trusted proxy forwarded."""
    return request.client.host if request.client else "unknown"


def address_key(address: str) -> str:
    """What a throttle counts an address as: itself, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def too_many(title: str, why: str, retry: float) -> Problem:
    """429 with Retry-After, saying why and how long to wait."""
    seconds = max(1, math.ceil(retry))
    message = f"{why} Wait {seconds} seconds before trying again."
    return Problem(429, AuthError(title, message), {"Retry-After": str(seconds)})


def reserve_signup(db: Database, cfg: PlatformSettings, address: str) -> None:
    """Count one sign-up from `address`, or raise 429 if it has made too many.

    Raises:
        Problem: 429 with Retry-After.
    """
    key, window = f"signup:{address_key(address)}", cfg.signup_window
    why = "accounts were made from your address within {}. Log into one of them instead."
    _reserve(db, cfg, key, cfg.signups_per_address, window, "Too many sign-ups", why)


RESET_ASKS_PER_ADDRESS = 10  # an hour: reset emails are not a way to mail strangers


def reserve_reset(db: Database, cfg: PlatformSettings, address: str) -> None:
    """Count one password-reset request from `address`, or raise 429 past 10 an hour."""
    key = f"reset:{address_key(address)}"
    why = "reset links were asked for from your address within {}. Check your mail first."
    _reserve(db, cfg, key, RESET_ASKS_PER_ADDRESS, 3600.0, "Too many reset requests", why)


def _reserve(
    db: Database, cfg: PlatformSettings, key: str, limit: int, window: float, title: str,
    why: str,
) -> None:  # fmt: skip
    """Count one event on `key`, or raise 429 (`why` formatted with the window) past `limit`
    within `window` seconds."""

    def count() -> None:
        t = now()
        with db.write() as s:
            rows = _locked(db, s, [key])
            row = rows.get(key)
            live = row is not None and t - row.window_start < window
            if row is not None and live and row.count >= limit:
                raise too_many(
                    title,
                    f"{row.count} " + why.format(format_duration(window)),
                    row.window_start + window - t,
                )
            _count(s, rows, key, t, restart=not live)
            _prune(s, t, cfg)

    _retrying(count)


class LoginThrottle:
    """The throttle for one log-in attempt (an email from an address); see the module."""

    def __init__(self, db: Database, cfg: PlatformSettings, email: str, address: str) -> None:
        self.db, self.cfg = db, cfg
        where = address_key(address)
        self.ip = f"ip:{where}"
        self.account = f"email:{email}"
        pair = hashlib.sha256(f"{email}\n{where}".encode()).hexdigest()[:40]
        self.guess = f"guess:{pair}"

    def wait(self, failures: int) -> float:
        """How long an address that has failed on the account waits after `failures`."""
        extra = failures - self.cfg.login_free_failures_per_account
        if extra < 0:
            return 0.0
        return min(self.cfg.login_max_delay, self.cfg.login_delay * 2.0 ** min(extra, 40))

    def reserve(self) -> None:
        """Count one attempt, or raise 429 if this address must wait.

        Raises:
            Problem: 429 with Retry-After.
        """
        _retrying(self._reserve)

    def _reserve(self) -> None:
        t, cfg = now(), self.cfg
        with self.db.write() as s:
            rows = _locked(self.db, s, [self.ip, self.account, self.guess])
            ip, account, guess = (rows.get(k) for k in (self.ip, self.account, self.guess))
            ip_live = ip is not None and t - ip.window_start < cfg.login_window
            if ip is not None and ip_live and ip.count >= cfg.login_max_failures_per_ip:
                raise too_many(
                    "Too many failed log-ins",
                    "Your address has failed to log in too often.",
                    ip.window_start + cfg.login_window - t,
                )
            last = (account.last_at or account.window_start) if account else 0.0
            wait = self.wait(account.count) if account else 0.0
            account_live = account is not None and t < last + wait + cfg.login_window
            guessing = (
                account is not None
                and account_live
                and guess is not None
                and (guess.last_at or guess.window_start) >= account.window_start
            )
            if guessing and t < last + wait:
                raise too_many(
                    "Too many failed log-ins",
                    "Your address has failed to log into this account too often.",
                    last + wait - t,
                )
            _count(s, rows, self.ip, t, restart=not ip_live)
            _count(s, rows, self.account, t, restart=not account_live)
            _count(s, rows, self.guess, t, restart=not guessing)
            _prune(s, t, cfg)

    def succeeded(self) -> None:
        """The password was right: give back the attempt and forget this address's failures
        on the account (others' failures stay counted)."""
        with self.db.write() as s:
            rows = _locked(self.db, s, [self.ip, self.account, self.guess])
            guess = rows.get(self.guess)
            mine = guess.count if guess else 1
            if guess is not None:
                s.delete(guess)
            if (account := rows.get(self.account)) is not None:
                account.count = max(0, account.count - mine)
            if (ip := rows.get(self.ip)) is not None:
                ip.count = max(0, ip.count - 1)


def _locked(db: Database, s: Session, keys: list[str]) -> Rows:
    stmt = select(LoginFailure).where(LoginFailure.key.in_(keys))
    return {r.key: r for r in s.scalars(db.for_update(stmt))}


def _count(s: Session, rows: Rows, key: str, t: float, *, restart: bool) -> None:
    """Count one attempt on `key`; `restart` begins a new window first."""
    row = rows.get(key)
    if row is None:
        row = rows[key] = LoginFailure(key=key, count=0, window_start=t)
        s.add(row)
    elif restart:
        row.count, row.window_start = 0, t
    row.count += 1
    row.last_at = t


def _prune(s: Session, t: float, cfg: PlatformSettings) -> None:
    """Now and then, drop counters no throttle looks at any more (keeps the table small)."""
    if random.random() >= 0.01:
        return
    keep = max(cfg.login_window + cfg.login_max_delay, cfg.signup_window)
    last = func.coalesce(LoginFailure.last_at, LoginFailure.window_start)
    s.execute(delete(LoginFailure).where(last < t - keep))


def _retrying(count: Callable[[], None]) -> None:
    """Run `count`, again if two first attempts raced to insert the same key."""
    for attempt in range(3):
        try:
            return count()
        except IntegrityError:
            if attempt == 2:
                raise
