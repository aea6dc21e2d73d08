"""One-statement upserts for rows that several workers may write at once (the catalog, refunds):
`session.merge` is a SELECT then an INSERT, and two workers racing through it collide."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.db.models import Base


def insert_for(session: Session, table: type[Base]) -> Any:
    """The session's dialect's INSERT of `table`: the one that has ON CONFLICT."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def upsert(session: Session, row: Base, *, update: bool = True) -> None:
    """INSERT the row; if its primary key exists, update it (or, with update=False, keep it)."""
    mapper = row.__mapper__
    values: dict[str, Any] = {attr.key: getattr(row, attr.key) for attr in mapper.column_attrs}
    keys = [column.key for column in mapper.primary_key]
    statement = insert_for(session, type(row)).values(values)
    if update:
        changes = {key: statement.excluded[key] for key in values if key not in keys}
        statement = statement.on_conflict_do_update(index_elements=keys, set_=changes)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    session.execute(statement)
