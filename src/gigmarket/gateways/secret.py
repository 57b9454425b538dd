"""Credentials that refuse to print themselves.

An API key or a webhook secret that reaches a log line, a traceback, a
``repr()`` in a debugger or an error report has leaked. Redacting at the
sink (a log filter) is a second line of defence, not a first: a value does
not know where it will be printed. So gigmarket wraps every credential in a
:class:`Secret` the moment it enters, and only the code that signs or
authenticates calls :meth:`Secret.reveal`:

>>> key = Secret("sk_sandbox_4eC39HqLyjWDarjtT1zdp7dc")
>>> key
Secret('**********')
>>> f"using {key}"
'using **********'
>>> key.reveal()[:11]
'sk_sandbox_'

Nor does a secret travel in plain form: pickling one (to a cache, a task
queue, a crash dump) is refused with a
:class:`~gigmarket.errors.ValidationError` rather than written with the value
in it, or written redacted and so silently broken on the other side. Pass the
configuration that *names* the secret (an environment variable) instead.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import NoReturn

from gigmarket.errors import ValidationError

__all__ = ["REDACTED", "Secret"]

REDACTED = "**********"
"""What a secret prints as. Fixed width, so not even its length shows."""


class Secret:
    """A string that can be used but not shown.

    ``repr()``, ``str()`` and formatting print :data:`REDACTED`. Two secrets
    compare equal when their values are equal, in constant time. There is no
    way to get the value except :meth:`reveal`, which is easy to search for
    in a code review.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str) or not value:
            # The message never echoes the value: it may be a real key.
            raise ValidationError("a secret must be a non-empty string", field="secret")
        self._value = value

    def reveal(self) -> str:
        """The secret itself. Call it only where the value is used (signing,
        authenticating), never to print, log or store it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, format_spec: str) -> str:
        return format(REDACTED, format_spec)

    def _refuse_pickling(self, *_: object) -> NoReturn:
        raise ValidationError(
            "a Secret cannot be pickled: its value would be written in plain form; "
            "pass what names it (an environment variable) and read it again there",
            field="secret",
        )

    __reduce__ = __reduce_ex__ = __getstate__ = _refuse_pickling

    def __copy__(self) -> Secret:
        return self  # immutable: a copy is the same secret, never a pickled round trip

    def __deepcopy__(self, memo: object) -> Secret:
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        # Hash a digest, not the value: equal secrets hash equal, and nothing
        # about the value can be read back from the hash.
        return hash(hashlib.sha256(self._value.encode()).digest())
