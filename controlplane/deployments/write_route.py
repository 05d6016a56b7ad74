"""The route class of the namespaces API: every write says who asks, and takes ``?dry_run=true``.

Each POST, PUT, PATCH and DELETE route of a router built with ``route_class=WriteRoute`` gets one more dependency
(no code in the endpoint): it notes the change's author (the caller's account with their API key or session: the
author of the revisions the request makes) in the request's session, and with ``dry_run=true`` marks the session
to be rolled back at the request's edge (``controlplane.dry_run``). The endpoint runs as always, through the same
validation and admission; the gate (``deployments.changes``) collects the policy's and the credit's refusals
instead of raising them, and the route answers 200 with the report in place of the endpoint's answer.

Errors that are not a verdict on the change (a malformed request, a field that does not validate, an unknown
namespace or revision) answer as usual, dry run or not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.routing import APIRoute

from controlplane import dry_run
from controlplane.accounts.principal import CurrentPrincipal
from controlplane.api.deps import SessionDep
from controlplane.deployments import changes
from controlplane.deployments.models import AuthorKind
from controlplane.deployments.revision_schemas import DryRunReport
from controlplane.deployments.revisions import Author

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DRY_RUN_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"model": DryRunReport, "description": "With `dry_run=true`: what the write would do; nothing is stored"}
}


async def note_change(
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    dry_run_requested: Annotated[
        bool,
        Query(
            alias=dry_run.QUERY_PARAMETER,
            description="Validate and admit the write, store nothing, queue nothing, and answer with the diff, "
            "the policy verdict, the price before and after, and the runway",
        ),
    ] = False,
) -> AsyncIterator[changes.ChangeNote]:
    author = Author(AuthorKind.ACCOUNT, principal.account_id, principal.api_key_id, principal.session_id)
    note = changes.ChangeNote(author, dry_run=dry_run_requested)
    changes.attach(session, note)
    if dry_run_requested:
        dry_run.mark(session)
    request.state.change_note = note
    try:
        yield note
    finally:
        changes.detach(session)


def _with_dry_run_answer(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """The route's 200 (a write that changed nothing, say) or the dry run's report: a 200 is either."""
    own = responses.get(200)
    if own is None or "model" not in own:
        return {**responses, **_DRY_RUN_ANSWER}
    report = _DRY_RUN_ANSWER[200]
    either = {"model": own["model"] | report["model"], "description": f"{own['description']}; {report['description']}"}
    return {**responses, 200: either}


class WriteRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        methods = {method.upper() for method in kwargs.get("methods") or ()}
        if methods & WRITE_METHODS:
            # scope="function": the note leaves the session before the session's own edge (commit or rollback).
            kwargs["dependencies"] = [*(kwargs.get("dependencies") or ()), Depends(note_change, scope="function")]
            kwargs["responses"] = _with_dry_run_answer(dict(kwargs.get("responses") or {}))
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_write(request: Request) -> Response:
            response = await handle(request)
            note: changes.ChangeNote | None = getattr(request.state, "change_note", None)
            if note is None or not note.dry_run:
                return response
            report = note.report or changes.no_change_report(note)
            return Response(report.model_dump_json(), status_code=200, media_type="application/json")

        return handle_write
