"""Idempotency keys: the same request twice has the effect of one.

Networks retry, workers crash after doing the work but before saying so, and
users double-click. Every money-moving command can carry an idempotency key.
The first time a key is seen its result is recorded *in the same transaction*
as the effect; a replay with the same payload returns that recorded result and
writes nothing; a replay with a different payload is refused with
:class:`~gigmarket.errors.IdempotencyConflict`, because answering it with the
first result would hide a bug in the caller.
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

import attrs

from gigmarket.errors import IdempotencyConflict, ValidationError

__all__ = [
    "IdempotencyRecord",
    "IdempotencyRepository",
    "check_key",
    "fingerprint",
    "replayed",
]

MAX_KEY_LENGTH = 255


@attrs.frozen(kw_only=True)
class IdempotencyRecord:
    """What a key was first used for, and what it produced."""

    key: str
    operation: str
    fingerprint: str
    result_id: str


class IdempotencyRepository(Protocol):
    """Storage port for idempotency records (one table, keyed by ``key``)."""

    def get_idempotency(self, key: str) -> IdempotencyRecord | None: ...

    def add_idempotency(self, record: IdempotencyRecord) -> None: ...


def check_key(key: object) -> str:
    """Validate an idempotency key: a non-empty printable string of bounded length."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationError(
            f"must be a non-empty printable string of at most {MAX_KEY_LENGTH} characters",
            field="idempotency_key",
        )
    return key


def fingerprint(payload: object) -> str:
    """A stable digest of a JSON-able payload (keys sorted, no whitespace)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def replayed(
    repository: IdempotencyRepository, key: str | None, operation: str, digest: str
) -> str | None:
    """Return the recorded result id if ``key`` replays this exact request.

    ``None`` means "first time: do the work and record it". A key recorded for
    another operation or payload raises :class:`IdempotencyConflict`.
    """
    if key is None:
        return None
    record = repository.get_idempotency(check_key(key))
    if record is None:
        return None
    if record.operation != operation or record.fingerprint != digest:
        raise IdempotencyConflict(key=key, operation=operation)
    return record.result_id
