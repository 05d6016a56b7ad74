"""Typed dependencies shared by every endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from controlplane.api.pagination import PageParams, page_params
from controlplane.runtime import Runtime
from controlplane.settings import Settings


def get_runtime_dep(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime_dep)]


def get_settings_dep(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """The request's unit of work: committed when the endpoint returns, before the response is sent.

    Jobs the services asked for are pushed to Redis by the commit (see ``controlplane.queue``).
    """
    session = runtime.new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": the commit must happen before the response leaves, never after.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
PageDep = Annotated[PageParams, Depends(page_params)]
