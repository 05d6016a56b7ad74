"""One operation per stack at a time: a Redis lock with a lease, in front of Pulumi's own backend lock.

The holder renews its lease while it works. A holder that dies stops renewing, and the lock is free again once the
lease runs out. A second key, the in-flight marker, has no expiry: it is set while a Pulumi run is in progress and
cleared when the run ends, so whoever takes the lock next knows a run was cut short and first cancels the stale
update and refreshes the stack.
"""

from __future__ import annotations

import threading
import uuid
from types import TracebackType

from redis import Redis

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class StackLock:
    def __init__(self, redis: Redis, stack: str, lease_s: float) -> None:
        self.redis = redis
        self.key = f"controlplane:stack-lock:{stack}"
        self.inflight_key = f"controlplane:stack-run:{stack}"
        self.lease_ms = int(lease_s * 1000)
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> bool:
        if not self.redis.set(self.key, self.token, nx=True, px=self.lease_ms):
            return False
        self._renewer = threading.Thread(target=self._renew_until_released, name="stack-lock-lease", daemon=True)
        self._renewer.start()
        return True

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        self.redis.eval(_RELEASE, 1, self.key, self.token)

    def _renew_until_released(self) -> None:
        while not self._stop.wait(self.lease_ms / 3000):
            self.redis.eval(_RENEW, 1, self.key, self.token, self.lease_ms)

    # --- the in-flight marker ----------------------------------------------------------------------------------

    def interrupted_run(self) -> bool:
        """True when a run was left in flight by a holder that is gone (we hold the lock, the marker is not ours)."""
        marker = self.redis.get(self.inflight_key)
        return marker is not None and marker != self.token.encode()

    def run_in_flight(self) -> bool:
        """A run is going on, or was cut short and not yet recovered (asked without holding the lock)."""
        return bool(self.redis.exists(self.inflight_key))

    def run_started(self) -> None:
        self.redis.set(self.inflight_key, self.token)

    def run_ended(self) -> None:
        self.redis.delete(self.inflight_key)

    def __enter__(self) -> StackLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
