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

from typing import Annotated

from pydantic import StringConstraints

NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]*$"
NO_CONTROL_CHARACTERS_BUT_LINE_BREAKS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
NO_NUL = r"^[^\x00]*$"

Line = Annotated[str, StringConstraints(pattern=NO_CONTROL_CHARACTERS)]
Prose = Annotated[str, StringConstraints(pattern=NO_CONTROL_CHARACTERS_BUT_LINE_BREAKS)]
EnvValue = Annotated[str, StringConstraints(pattern=NO_NUL)]
