"""Base classes and shared shapes of the REST API."""

from __future__ import annotations

from typing import Generic, TypeVar

from fastapi import Response
from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class ApiModel(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error rather than a silent no-op.

    Strict, as the OpenAPI document reads: ``"5"`` is not an integer, ``1`` not a boolean (``Integer`` and
    ``Timestamp`` in ``controlplane.api.text`` take what JSON Schema also takes). Strings are kept as sent, never
    trimmed: each field's type says what it accepts."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a list. Pass ``next_cursor`` back as ``cursor`` for the next page; null means the end."""

    items: list[T]
    next_cursor: str | None


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: object | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialize an already-validated model once. FastAPI would otherwise dump and validate it again against the
    route's ``response_model`` (kept on the route for the OpenAPI document)."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
