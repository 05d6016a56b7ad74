"""The text a caller may send, as types: every name, id, path parameter and query filter uses one of them.

Strings are validated, never trimmed: what a tenant wrote is what is stored, or the request is refused with a
422 naming the field. The patterns are published in the OpenAPI document as they are enforced. Lengths are added
where the type is used: ``Annotated[Line, Field(max_length=100)]``, ``Annotated[Line, Path(max_length=63)]``.

- ``Line``: one line of text (names, ids, path parameters, query filters): no control characters at all (C0, DEL,
  C1), so nothing a caller sends can break a log line, a header or a terminal.
- ``Prose``: free text of several lines (an operator's reason): tabs and line breaks, no other control characters.
- ``EnvValue``: an environment variable's value: any text except NUL, kept byte for byte (a PEM's final newline
  matters). A process's environment cannot hold NUL, nor can PostgreSQL's text.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, StringConstraints

NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]*$"
NO_CONTROL_CHARACTERS_BUT_LINE_BREAKS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
NO_NUL = r"^[^\x00]*$"

Line = Annotated[str, StringConstraints(pattern=NO_CONTROL_CHARACTERS)]
Prose = Annotated[str, StringConstraints(pattern=NO_CONTROL_CHARACTERS_BUT_LINE_BREAKS)]
EnvValue = Annotated[str, StringConstraints(pattern=NO_NUL)]


# --- Numbers and times, as JSON Schema reads them ------------------------------------------------------------------
# Request bodies are strict (``ApiModel``): "5" is not an integer and 1 is not a boolean. Two things JSON Schema does
# accept are kept: an integer written with a zero fraction (``5.0``), and a time in RFC 3339, which must carry its
# zone (a zone-less time is ambiguous; comparing one with a zoned time used to fail as a 500).

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with a zone, e.g. 2030-01-01T00:00:00Z")
    return datetime.fromisoformat(value)


# Put bounds before it: ``Annotated[int, Field(ge=0), INTEGRAL]`` (pydantic would not publish bounds after it).
INTEGRAL = BeforeValidator(_integral)
Integer = Annotated[int, INTEGRAL]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
