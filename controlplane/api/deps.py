"""Typed dependencies shared by every endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from controlplane import dry_run
from controlplane.api.pagination import PageParams, PageReader, page_params
from controlplane.queue import PENDING_JOBS_KEY
from controlplane.runtime import Runtime
from controlplane.settings import Settings

_READ_METHODS = frozenset({"GET", "HEAD"})

# Dependencies that do no I/O are ``async``: FastAPI then runs them on the event loop instead of paying a
# thread-pool hop for each one on every request.


async def get_runtime_dep(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime_dep)]


async def get_settings_dep(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_session(request: Request, runtime: RuntimeDep) -> AsyncIterator[Session]:
    """The request's unit of work: committed when the endpoint returns, before the response is sent.

    Jobs the services asked for are pushed to Redis by the commit (see ``controlplane.queue``). Reads (GET, HEAD)
    run without a transaction, which saves two round trips; the few writes they make (a key's last use) commit
    at once. Opening a session does no I/O, so only its end takes a trip to the thread pool. A dry run
    (``controlplane.dry_run``) is rolled back instead of committed.
    """
    read_only = request.method in _READ_METHODS
    session = runtime.new_session(autocommit=read_only)
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_finish, session, False)
        raise
    if read_only and not session.info.get(PENDING_JOBS_KEY):
        # Nothing to commit and no transaction open: closing returns the connection to the pool without I/O.
        session.close()
        return
    await run_in_threadpool(_finish, session, not dry_run.take(session))


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


# scope="function": the commit must happen before the response leaves, never after.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
PageDep = Annotated[PageParams, Depends(page_params)]


async def get_page_reader(request: Request) -> PageReader:
    reader: PageReader = request.app.state.page_reader
    return reader


PageReaderDep = Annotated[PageReader, Depends(get_page_reader)]
