"""Console sessions held in the database, so the server can end them.

The cookie carries a random session id and nothing else that signs anyone in; the row of that id
says who signed in, when, and with which ops token. Logging out deletes the row, so a copy of the
cookie kept from before is refused everywhere, by every gunicorn worker, after any restart. A
session signed in with another token than the one configured now is refused too, and a sign-in
deletes such rows for good: a token rolled back to after a rotation does not revive them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session, sessionmaker

from worker.db.models import ConsoleSession, utcnow
from worker.db.session import read_only

SESSION_LIFETIME = timedelta(hours=12)
# Domain separation: what is stored is the token's HMAC under this label, never the token.
FINGERPRINT_LABEL = b"billing-worker ops console token fingerprint v1"


def token_fingerprint(token: str) -> str:
    return hmac.new(token.encode(), FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


def start_session(sessions: sessionmaker[Session], operator: str, token: str) -> str:
    """Record a sign-in with `token`; the new session's id, for the cookie. Sessions that have
    ended (expired, or signed in with another token) are deleted on the way."""
    session_id = secrets.token_urlsafe(32)
    fingerprint = token_fingerprint(token)
    now = utcnow()
    with sessions.begin() as db:
        db.execute(
            delete(ConsoleSession).where(
                or_(
                    ConsoleSession.token_fingerprint != fingerprint,
                    ConsoleSession.signed_in_at <= now - SESSION_LIFETIME,
                )
            )
        )
        db.add(
            ConsoleSession(
                id_hash=_id_hash(session_id),
                operator=operator,
                token_fingerprint=fingerprint,
                signed_in_at=now,
            )
        )
    return session_id


def session_operator(sessions: sessionmaker[Session], session_id: str, token: str) -> str | None:
    """Who holds this session; None once it was ended, has expired (12 hours from sign-in,
    however busy), or was signed in with another token than `token`."""
    with read_only(sessions) as db:
        row = db.get(ConsoleSession, _id_hash(session_id))
    if row is None or utcnow() - row.signed_in_at >= SESSION_LIFETIME:
        return None
    if not hmac.compare_digest(row.token_fingerprint, token_fingerprint(token)):
        return None
    return row.operator


def end_session(sessions: sessionmaker[Session], session_id: str) -> None:
    with sessions.begin() as db:
        db.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == _id_hash(session_id)))


def _id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()
