"""Rate limits and cool-downs as Redis counters that expire, shared by every API process.

Keys never hold a phone number or an address in clear: callers pass keyed hashes (see :func:`subject`).
"""

from __future__ import annotations

from redis import Redis

from controlplane.accounts.secrets import keyed_hash
from controlplane.errors import RateLimited
from controlplane.settings import Settings

PREFIX = "cp:limit:"

# INCR and EXPIRE in one step, so a counter can never be left without its expiry.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


_GIVE_BACK = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then redis.call('DECR', KEYS[1]) end
return count
"""


def subject(settings: Settings, kind: str, value: str) -> str:
    """The key part naming a phone number or client address: a keyed hash, never the value itself."""
    return f"{kind}:{keyed_hash(settings.session_secret, f'limit:{kind}:{value}').hex()[:32]}"


def hit(redis: Redis, key: str, window_s: int) -> int:
    """Count one event in the window that started with the first one; returns the count so far."""
    return int(redis.eval(_HIT, 1, PREFIX + key, window_s))


def take(redis: Redis, key: str, *, limit: int, window_s: int, what: str) -> None:
    """Take one of ``limit`` attempts in the window, before making it; refuse with 429 when none is left.

    The increment comes first and decides alone, so concurrent callers can never all see the same room: unlike a
    read of the count followed by an increment once the attempt failed.
    """
    if hit(redis, key, window_s) > limit:
        give_back(redis, key)  # a refused attempt does not count: the window's count stays at the limit
        raise too_many(redis, key, what)


def give_back(redis: Redis, key: str) -> None:
    """Return an attempt taken with :func:`take` that was not made (never below zero, never without expiry)."""
    redis.eval(_GIVE_BACK, 1, PREFIX + key)


def count(redis: Redis, key: str) -> int:
    value = redis.get(PREFIX + key)
    return int(value) if value is not None else 0


def reset(redis: Redis, key: str) -> None:
    redis.delete(PREFIX + key)


def seconds_left(redis: Redis, key: str) -> int:
    return max(int(redis.ttl(PREFIX + key)), 1)


def enforce(redis: Redis, key: str, *, limit: int, window_s: int, what: str) -> None:
    """Count one ``what``; refuse with 429 once more than ``limit`` happened within ``window_s``."""
    if hit(redis, key, window_s) > limit:
        raise too_many(redis, key, what)


def too_many(redis: Redis, key: str, what: str) -> RateLimited:
    wait = seconds_left(redis, key)
    return RateLimited(f"too many {what}; try again in {wait} seconds", details={"retry_after_s": wait})
