"""The caller's own account: change the display name, delete the account."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from kalavai_like.platform.account_schemas import AccountDelete, ProfileIn
from kalavai_like.platform.api.accounts import confirm_password, user_out
from kalavai_like.platform.auth import Db, Settings, User
from kalavai_like.platform.erase import erase_user
from kalavai_like.platform.models import User as UserRow
from kalavai_like.platform.problems import not_found
from kalavai_like.platform.schemas import UserOut

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.patch("/me", response_model=UserOut)
def update_me(body: ProfileIn, who: User, db: Db) -> UserOut:
    """Change your display name: what others see of you (pool lists, pools' workers,
    the leaderboard) instead of your email, which only you see."""
    with db.write() as s:
        user = s.get(UserRow, who.user_id)
        if user is None:
            raise not_found("account")
        user.display_name = body.display_name
        s.flush()
        return user_out(user)


@router.post("/me/delete", status_code=204)
def delete_me(body: AccountDelete, request: Request, who: User, db: Db, cfg: Settings) -> Response:
    """Delete your account (your password again, throttled like a log-in). 409 while you own
    pools; otherwise your devices leave their pools, the credit they earned stays with the
    pools under an anonymous stand-in, and nothing of you remains: email, display name,
    password, sessions, account keys."""
    delete_account(body, request, who, db, cfg)
    return Response(status_code=204)


def delete_account(body: AccountDelete, request: Request, who: User, db: Db, cfg: Settings) -> None:
    """What `delete_me` does (the web page calls it too)."""
    confirm_password(who, body.password, request, db, cfg)
    with db.write() as s:
        user = s.get(UserRow, who.user_id)
        if user is None:
            raise not_found("account")
        changed = erase_user(s, user)
    for pool_id in changed:
        request.app.state.peers.notify(pool_id)
