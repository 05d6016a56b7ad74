"""Billing: prepaid credits, their ledger, hourly metering, card top-ups, on-chain deposits, and the zero-balance
lifecycle of namespaces.

Money is integer **micro-credits** everywhere (``BIGINT``; 1 credit = 1,000,000 micro-credits = one unit of
``checkout_currency``, so 1 cent buys 10,000). No floats: prices are integer micro-credits per unit-hour, the
hourly cost is computed exactly and rounded down once per account and hour, token deposits convert with integer
arithmetic.

Modules, by capability:

- ``ledger``: the append-only ledger and the balance row (per-account row lock, idempotency key per account,
  ``balance >= 0`` CHECKs). Overdraft rule: a charge takes at most the balance and records the rest as unpaid;
  the next top-up pays unpaid usage first.
- ``metering``: the hourly set-based pass (which namespace states pay for what is documented there).
- ``lifecycle``: zero balance -> suspended (and told) -> volumes released after ``volume_release_after_hours``
  -> resumed after a top-up (told first whether the volumes are gone). Desired-state changes only.
- ``checkout``: Stripe Checkout top-ups and the signed webhook (once per event id and once per session).
- ``deposits`` and ``chain``: ERC-20 deposits verified with web3, once per (chain, transaction, log index).
- ``jobs``: the RQ entry points (lifecycle sync, metering, volume release, deposit re-checks).
- ``api`` and ``schemas``: ``/v1/billing/...`` and the operators' adjustments.

Billing rows survive account deletion: ``account_id`` is ``ON DELETE SET NULL`` and ``billing_account_id`` (an
opaque reference, also the one Stripe sees) keeps an account's records together, detached from the person.
"""
