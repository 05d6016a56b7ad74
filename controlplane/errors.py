"""One error base class, one JSON shape: ``{"error": {"code", "message", "details"}}``.

Services raise subclasses of :class:`AppError`; the API's handlers turn them, and every framework error, into
that shape. ``code`` is stable and machine-readable; ``message`` is for people.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def to_body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class PaymentRequired(AppError):
    """The account's credit does not cover what was asked (the details say how much to add)."""

    status_code = 402
    code = "insufficient_credits"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class Unprocessable(AppError):
    """A well-formed request that breaks a rule no schema states (across fields, against the clock or the stored
    state). ``validation_error`` is kept for requests that do not match their schema (``controlplane.api``)."""

    status_code = 422
    code = "unprocessable"


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"


class UpstreamError(AppError):
    """A vendor (Twilio, Stripe, an Ethereum node) failed or could not be reached."""

    status_code = 502
    code = "upstream_error"
