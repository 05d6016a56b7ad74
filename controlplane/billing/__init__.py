"""Billing: prepaid credits, their ledger, hourly metering, card top-ups, on-chain deposits, and the zero-balance
lifecycle of namespaces.

Money is integer **micro-credits** everywhere (``BIGINT``; 1 credit = 1,000,000 micro-credits = one unit of
``checkout_currency``, so 1 cent buys 10,000). No floats: prices are integer micro-credits per unit-hour, the
hourly cost is computed exactly and rounded down once per namespace and hour, token deposits convert with integer
arithmetic.

Modules, by capability:

- ``ledger``: the append-only ledger and the balance row (per-account row lock, idempotency key per account,
  ``balance >= 0`` CHECKs). Overdraft rule: a charge takes at most the balance and records the rest as unpaid;
  the next top-up pays unpaid usage first.
- ``prices``: the one price function (on integers and in SQL) and which lifecycle states pay for what; metering's
  statement and every price shown are built from it.
- ``metering``: the hourly set-based pass (what is charged when is documented there), and the runway notices.
- ``service``: what other features ask of billing: a declaration's price, the account's price and runway, and the
  402 for a change the credit does not cover.
- ``lifecycle``: zero balance -> suspended (and told) -> volumes released after ``volume_release_after_hours``
  -> resumed after a top-up (told first whether the volumes are gone). Desired-state changes only.
- ``checkout``: Stripe Checkout top-ups and the signed webhook (once per event id and once per session).
- ``deposits`` and ``chain``: ERC-20 deposits verified with web3, once per (chain, transaction, log index).
- ``jobs``: the RQ entry points (lifecycle sync, metering, volume release, deposit re-checks).
- ``api`` and ``schemas``: ``/v1/billing/...`` and the operators' adjustments.

Billing rows survive account deletion: ``account_id`` is ``ON DELETE SET NULL`` and ``billing_account_id`` (an
opaque reference, also the one Stripe sees) keeps an account's records together, detached from the person.
"""
