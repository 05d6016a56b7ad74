"""Cursor pagination: keyset on (created_at, id), newest first, with an opaque cursor."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from controlplane.api.async_db import LoopDatabase
from controlplane.errors import BadRequest

T = TypeVar("T")
AnySelect = Select[*tuple[Any, ...]]

MAX_LIMIT = 200
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"  # what encode_cursor writes: URL-safe base64 without padding


class PageParams(BaseModel):
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = 50,
    cursor: Annotated[
        str | None,
        Query(min_length=1, max_length=200, pattern=CURSOR_PATTERN, description="next_cursor of the previous page"),
    ] = None,
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


def page_statement(
    stmt: AnySelect,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[uuid.UUID],
    params: PageParams,
) -> AnySelect:
    """``stmt`` limited to the page ``params`` ask for (one row more, to know whether another page follows)."""
    if params.cursor is not None:
        after_time, after_id = decode_cursor(params.cursor)
        stmt = stmt.where(or_(created_at < after_time, and_(created_at == after_time, row_id < after_id)))
    return stmt.order_by(created_at.desc(), row_id.desc()).limit(params.limit + 1)


def cut_page(
    rows: Sequence[T], params: PageParams, position: Callable[[T], tuple[datetime, uuid.UUID]]
) -> tuple[Sequence[T], str | None]:
    """The page's rows and the cursor of the next page (None at the end); ``position`` reads a row's keys."""
    if len(rows) <= params.limit:
        return rows, None
    return rows[: params.limit], encode_cursor(*position(rows[params.limit - 1]))


def cut_row_page(
    rows: Sequence[dict[str, Any]],
    params: PageParams,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[uuid.UUID],
) -> tuple[Sequence[dict[str, Any]], str | None]:
    """``cut_page`` for rows as dicts of column values (what a ``PageReader`` returns)."""
    return cut_page(rows, params, lambda row: (row[created_at.key], row[row_id.key]))


def paginate(
    session: Session,
    stmt: AnySelect,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[uuid.UUID],
    params: PageParams,
) -> tuple[Sequence[Any], str | None]:
    """Run ``stmt`` (a select of one entity, scoped to the caller) one page at a time with the request's session;
    returns the entities and the next cursor. A list that shows plain columns of one table is cheaper with a
    ``PageReader``."""
    rows = session.scalars(page_statement(stmt, created_at, row_id, params)).all()
    return cut_page(rows, params, lambda row: (getattr(row, created_at.key), getattr(row, row_id.key)))


class PageReader(Protocol):
    """Pages of a list read on the event loop, as dicts of plain values (see ``controlplane.api.async_db``).

    For lists that show columns of one table: select the columns (``columns_for``), scope the statement to the
    caller, and ``await reader.page(...)`` from an ``async`` endpoint; no worker thread, no ORM objects.
    """

    async def page(
        self,
        stmt: AnySelect,
        created_at: InstrumentedAttribute[datetime],
        row_id: InstrumentedAttribute[uuid.UUID],
        params: PageParams,
    ) -> tuple[Sequence[dict[str, Any]], str | None]: ...


class LoopPageReader:
    def __init__(self, db: LoopDatabase) -> None:
        self.db = db

    async def page(
        self,
        stmt: AnySelect,
        created_at: InstrumentedAttribute[datetime],
        row_id: InstrumentedAttribute[uuid.UUID],
        params: PageParams,
    ) -> tuple[Sequence[dict[str, Any]], str | None]:
        rows = await self.db.all(page_statement(stmt, created_at, row_id, params))
        return cut_row_page(rows, params, created_at, row_id)


def columns_for(model: type[BaseModel], entity: type[Any]) -> list[InstrumentedAttribute[Any]]:
    """The entity's columns a response model shows, by field name: what a list selects, and nothing more."""
    return [getattr(entity, name) for name in model.model_fields]
