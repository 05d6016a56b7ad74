"""Cursor pagination: keyset on (created_at, id), newest first, with an opaque cursor."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from controlplane.errors import BadRequest

T = TypeVar("T")

MAX_LIMIT = 200


class PageParams(BaseModel):
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (ValueError, TypeError) as exc:
        raise BadRequest("the cursor is not one this API issued", code="invalid_cursor") from exc


def paginate(
    session: Session,
    stmt: Select[Any],
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[uuid.UUID],
    params: PageParams,
) -> tuple[Sequence[Any], str | None]:
    """Run ``stmt`` (already scoped to the caller) one page at a time; returns the rows and the next cursor."""
    if params.cursor is not None:
        after_time, after_id = decode_cursor(params.cursor)
        stmt = stmt.where(or_(created_at < after_time, and_(created_at == after_time, row_id < after_id)))
    rows = session.scalars(stmt.order_by(created_at.desc(), row_id.desc()).limit(params.limit + 1)).all()
    if len(rows) <= params.limit:
        return rows, None
    last = rows[params.limit - 1]
    return rows[: params.limit], encode_cursor(getattr(last, created_at.key), getattr(last, row_id.key))
