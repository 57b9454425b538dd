"""Idempotency keys: the same request twice has the effect of one.

Networks retry, workers crash after doing the work but before saying so, and
users double-click. Every money-moving command can carry an idempotency key.
The first time a key is seen its result is recorded *in the same transaction*
as the effect; a replay with the same payload returns that recorded result and
writes nothing; a replay with a different payload is refused with
:class:`~gigmarket.errors.IdempotencyConflict`, because answering it with the
first result would hide a bug in the caller.

Keys live in scopes, so that keys from different callers never meet
-------------------------------------------------------------------

Two kinds of caller choose keys: the *host* (the platform calling a public
command with its own ``idempotency_key``) and *gigmarket itself*, which
derives keys for the ledger entries behind a payment, a refund, a release or
a payout (``payment`` + the gateway's charge id, say). If both wrote into one
namespace, a host that happened to pick ``payment:ch_1`` for an order would
block the booking of the card payment whose charge is ``ch_1``. So every key
is recorded in a **scope**, and the store's primary key is the pair
``(scope, key)``:

* ``host:<operation>[:<party>]``: a key passed to a public command, scoped by
  the command (``place_order``, ``post``...) and, where the command acts for
  a party, by that party (the buyer placing an order, the seller creating a
  gig): two buyers who pick the same key never meet either;
* ``gigmarket:<purpose>``: a key the library derives for itself, made only
  by :func:`internal_key` (``gigmarket:payment`` + ``ch_1``).

A plain ``str`` given as a key is always the host's: there is no way to name
an internal scope with a string. A call without a key is never a replay of
anything, and records nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Protocol

import attrs

from gigmarket.errors import IdempotencyConflict, ValidationError

__all__ = [
    "HOST",
    "LIBRARY",
    "MAX_KEY_LENGTH",
    "IdempotencyRecord",
    "IdempotencyRepository",
    "KeyLike",
    "ScopedKey",
    "check_key",
    "fingerprint",
    "host_key",
    "internal_key",
    "remember",
    "replayed",
]

MAX_KEY_LENGTH = 255
"""The longest key a host may choose."""

HOST = "host"
"""The caller of every key given as a string to a public command."""

LIBRARY = "gigmarket"
"""The caller of every key gigmarket derives for itself."""

_NAME = re.compile(r"[a-z][a-z0-9_\-]{0,63}")
_PARTY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+\-]{0,99}")
_MAX_INTERNAL_KEY = 1000


@attrs.frozen(kw_only=True)
class ScopedKey:
    """An idempotency key together with the scope it is recorded in.

    Built by :func:`host_key` or :func:`internal_key`, never by hand: those
    two functions are what keeps the scopes of the host and of the library
    apart.
    """

    scope: str
    key: str

    @property
    def caller(self) -> str:
        """:data:`HOST` or :data:`LIBRARY`."""
        return self.scope.split(":", 1)[0]

    @property
    def qualified(self) -> str:
        """``<scope> <key>``: one string that names the key everywhere.

        The scope never contains a space, so the first space separates the
        two. A journal entry carries this string as its ``idempotency_key``.
        """
        return f"{self.scope} {self.key}"

    def __str__(self) -> str:
        return self.qualified


KeyLike = str | ScopedKey
"""What a command accepts as its idempotency key: the host's string, or a
key gigmarket derived (:func:`internal_key`) when one of its own services
drives another."""


@attrs.frozen(kw_only=True)
class IdempotencyRecord:
    """What a key was first used for, and what it produced."""

    scope: str
    key: str
    operation: str
    fingerprint: str
    result_id: str


class IdempotencyRepository(Protocol):
    """Storage port for idempotency records, keyed by ``(scope, key)``.

    ``add_idempotency`` of a pair already recorded raises
    :class:`~gigmarket.errors.IdempotencyConflict` on every adapter (or a
    transient storage error when a concurrent writer recorded it first, so
    that a retry sees the record and replays it).
    """

    def get_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The record of ``key`` in ``scope``, or ``None`` if the pair was never
        recorded (the first time a key is seen)."""
        ...

    def add_idempotency(self, record: IdempotencyRecord) -> None:
        """Record which result a key produced, in the same transaction as the effect.

        A pair is recorded once and never overwritten: if it is already there,
        raise [IdempotencyConflict][gigmarket.errors.IdempotencyConflict], or
        [TransientStorageError][gigmarket.errors.TransientStorageError] when a
        concurrent writer inserted it first, so that the retry finds the record.
        """
        ...


def check_key(key: object) -> str:
    """Validate a host's idempotency key: a non-empty printable string of bounded length."""
    if (
        not isinstance(key, str)
        or not key
        or len(key) > MAX_KEY_LENGTH
        or not key.isprintable()
        or any("\ud800" <= char <= "\udfff" for char in key)
    ):
        raise ValidationError(
            f"must be a non-empty printable string of at most {MAX_KEY_LENGTH} characters",
            field="idempotency_key",
        )
    return key


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):  # a programming error in gigmarket, not bad input
        raise ValueError(f"{name!r} is not an operation name")
    return name


def host_key(
    key: object, operation: str, *, party: object = None, party_field: str = "party"
) -> ScopedKey | None:
    """Scope the key a host passed to ``operation`` (``None`` stays ``None``).

    ``party`` is whom the command acts for (a buyer, a seller): keys of two
    parties never meet. An id that cannot name a party is refused as a
    :class:`ValidationError` on ``party_field``. An internal key passed
    through is returned as it is.
    """
    if key is None:
        return None
    if isinstance(key, ScopedKey):
        return key
    checked = check_key(key)
    scope = f"{HOST}:{_check_name(operation)}"
    if party is not None:
        if not isinstance(party, str) or not _PARTY.fullmatch(party):
            raise ValidationError(
                "is not an id (letters, digits and _.@+-, at most 100)", field=party_field
            )
        scope = f"{scope}:{party}"
    return ScopedKey(scope=scope, key=checked)


def internal_key(purpose: str, *parts: str) -> ScopedKey:
    """A key gigmarket derives for itself: ``internal_key("payment", charge_id)``.

    Its scope (``gigmarket:<purpose>``) is one no host key can be in.
    """
    key = ":".join(parts)
    if not key or len(key) > _MAX_INTERNAL_KEY:
        raise ValidationError("cannot derive an idempotency key from this id", field="reference")
    return ScopedKey(scope=f"{LIBRARY}:{_check_name(purpose)}", key=key)


def fingerprint(payload: object) -> str:
    """A stable digest of a JSON-able payload (keys sorted, no whitespace)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def replayed(
    repository: IdempotencyRepository, key: ScopedKey | None, operation: str, digest: str
) -> str | None:
    """Return the recorded result id if ``key`` replays this exact request.

    ``None`` means "first time: do the work and record it" (and is always the
    answer for a call without a key). A key recorded in this scope for
    another operation or payload raises :class:`IdempotencyConflict`.
    """
    if key is None:
        return None
    record = repository.get_idempotency(key.scope, key.key)
    if record is None:
        return None
    if record.operation != operation or record.fingerprint != digest:
        raise IdempotencyConflict(key=key.key, operation=operation, scope=key.scope)
    return record.result_id


def remember(
    repository: IdempotencyRepository,
    key: ScopedKey | None,
    operation: str,
    digest: str,
    result_id: str,
) -> None:
    """Record what ``key`` produced, in the caller's unit of work (no key: nothing)."""
    if key is not None:
        repository.add_idempotency(
            IdempotencyRecord(
                scope=key.scope,
                key=key.key,
                operation=operation,
                fingerprint=digest,
                result_id=result_id,
            )
        )
