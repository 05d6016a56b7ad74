"""Phone numbers: normalised to E.164, kept only as a keyed hash, proven with a one-time code from Twilio Verify.

Sends are limited per number and per client address, wrong codes per number (then a cool-down); the counters
live in Redis under keyed hashes, never under the number itself. Nothing here looks at accounts, so whether a
number has one cannot be learnt from these answers.
"""

from __future__ import annotations

import phonenumbers
from redis import Redis

from controlplane import rate_limits
from controlplane.accounts.secrets import keyed_hash
from controlplane.accounts.twilio_verify import TwilioVerify
from controlplane.errors import AppError, BadRequest, Unprocessable
from controlplane.settings import Settings

HOUR_S = 3600


def normalise(phone: str) -> str:
    """The number in E.164 (``+14155552671``), or a 422 naming the ``phone`` field."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise Unprocessable(
            "phone must be a valid number in international format, e.g. +14155552671",
            code="invalid_phone",
            details=[{"location": ["body", "phone"], "message": "not a valid international phone number"}],
        )
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def phone_hash(settings: Settings, e164: str) -> bytes:
    return keyed_hash(settings.phone_hash_pepper, e164)


def send_code(redis: Redis, settings: Settings, verifier: TwilioVerify, phone: str, client_ip: str) -> None:
    """Text a code to ``phone``, within the per-number and per-address hourly rate limits."""
    e164 = normalise(phone)
    rate_limits.enforce(
        redis,
        rate_limits.subject(settings, "otp-send-ip", client_ip),
        limit=settings.otp_sends_per_ip_per_hour,
        window_s=HOUR_S,
        what="codes requested from this address",
    )
    rate_limits.enforce(
        redis,
        rate_limits.subject(settings, "otp-send-number", e164),
        limit=settings.otp_sends_per_number_per_hour,
        window_s=HOUR_S,
        what="codes requested for this number",
    )
    verifier.send_code(e164)


def verify_code(redis: Redis, settings: Settings, verifier: TwilioVerify, phone: str, code: str) -> bytes:
    """Check ``code`` for ``phone`` and return the number's keyed hash; wrong codes count towards a cool-down.

    Each check takes one of the ``otp_wrong_codes_before_cooldown`` attempts *before* Twilio is asked (one atomic
    increment), and a right code gives them all back: however many checks arrive at once, at most that many reach
    Twilio in a cool-down window.
    """
    e164 = normalise(phone)
    attempts = rate_limits.subject(settings, "otp-wrong-code", e164)
    rate_limits.take(
        redis,
        attempts,
        limit=settings.otp_wrong_codes_before_cooldown,
        window_s=settings.otp_cooldown_s,
        what="wrong codes for this number",
    )
    try:
        right = verifier.check_code(e164, code)
    except AppError:
        rate_limits.give_back(redis, attempts)  # Twilio did not answer: the attempt did not happen
        raise
    if not right:
        raise BadRequest("the code is wrong or has expired", code="invalid_code")
    rate_limits.reset(redis, attempts)
    return phone_hash(settings, e164)
