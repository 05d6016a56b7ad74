"""``Idempotency-Key`` on POST: the records that let a retried create return the first answer.

The HTTP side (reading the header, authenticating the caller, replaying) is ``controlplane.api.idempotency``.
"""
