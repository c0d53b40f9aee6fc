"""The transactional outbox: provider calls and host hooks that leave a transaction safely.

An item is written in the same transaction as the effect that calls for it (so the call exists
exactly when the effect does) and delivered after the commit, with retries, backoff and
idempotency keys; see :mod:`tierline.outbox.service`.
"""
