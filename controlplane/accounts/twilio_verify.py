"""Twilio Verify behind two calls: send a code to a number, check a code for it.

The real ``twilio`` SDK does the HTTP; ``twilio_verify_base_url`` points it elsewhere (a local stand-in in tests).
Twilio's errors become the service's own: a number that cannot get codes is a 422, Twilio's own rate limits a 429,
anything else a 502. Twilio's messages can quote the number, so they are never logged or passed on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from controlplane.errors import AppError, RateLimited, ServiceUnavailable, Unprocessable, UpstreamError
from controlplane.settings import Settings

log = logging.getLogger(__name__)

# The SDK logs each request's URL and headers at INFO; keep that out of the service's logs.
_sdk_log = logging.getLogger("controlplane.accounts.twilio_sdk")
_sdk_log.setLevel(logging.WARNING)

_NOT_FOUND = 20404  # no pending verification for the number: expired, already approved, or out of attempts
_UNUSABLE_NUMBER = frozenset({60200, 60205, 21211, 21408, 21610, 21614})  # invalid, landline, blocked, region
_RATE_LIMITED = frozenset({20429, 60202, 60203, 60212})  # too many requests, checks or sends


@dataclass(frozen=True)
class TwilioVerify:
    client: Client
    service_sid: str

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioVerify:
        sid, token, service = (
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_verify_service_sid,
        )
        if not sid or token is None or not service:
            missing = [name for name, value in (("CONTROLPLANE_TWILIO_ACCOUNT_SID", sid),
                       ("CONTROLPLANE_TWILIO_AUTH_TOKEN", token), ("CONTROLPLANE_TWILIO_VERIFY_SERVICE_SID", service))
                       if not value]  # fmt: skip
            raise ServiceUnavailable(
                f"phone sign-in is not configured on this server: set {', '.join(missing)}", code="phone_unavailable"
            )
        http_client = TwilioHttpClient(timeout=settings.twilio_timeout_s, logger=_sdk_log)
        client = Client(sid, token.get_secret_value(), http_client=http_client)
        if settings.twilio_verify_base_url:
            client.verify.base_url = settings.twilio_verify_base_url
        return cls(client, service)

    def send_code(self, e164: str) -> None:
        """Ask Twilio to text a code to ``e164``."""
        try:
            self.client.verify.v2.services(self.service_sid).verifications.create(to=e164, channel="sms")
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _translate(exc, "send") from None
        except (TwilioException, requests.RequestException) as exc:
            raise _unreachable(exc, "send") from None

    def check_code(self, e164: str, code: str) -> bool:
        """True when ``code`` is the one Twilio sent to ``e164`` (the verification is then used up)."""
        try:
            check = self.client.verify.v2.services(self.service_sid).verification_checks.create(to=e164, code=code)
        except (TwilioRestException, TwilioServiceException) as exc:
            if exc.status == 404 or exc.code == _NOT_FOUND:
                return False
            raise _translate(exc, "check") from None
        except (TwilioException, requests.RequestException) as exc:
            raise _unreachable(exc, "check") from None
        return bool(check.status == "approved")


def _translate(exc: TwilioRestException | TwilioServiceException, action: str) -> AppError:
    log.warning("twilio verify %s refused: status=%s code=%s", action, exc.status, exc.code)
    if exc.code in _UNUSABLE_NUMBER:
        return Unprocessable("this phone number cannot receive codes by SMS", code="invalid_phone")
    if exc.status == 429 or exc.code in _RATE_LIMITED:
        return RateLimited("too many codes for this number; try again later")
    return UpstreamError("the SMS provider did not accept the request; try again shortly")


def _unreachable(exc: Exception, action: str) -> UpstreamError:
    log.warning("twilio verify %s failed: %s", action, type(exc).__name__)
    return UpstreamError("the SMS provider could not be reached; try again shortly")
