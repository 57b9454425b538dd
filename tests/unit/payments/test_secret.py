"""Secret: usable, never printable."""

from __future__ import annotations

import logging

import pytest

from gigmarket.errors import ValidationError
from gigmarket.gateways.secret import REDACTED, Secret

VALUE = "sk_live_51H8zQpLkT"


def test_a_secret_does_not_print_itself(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret(VALUE)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("key %s / %r / %s", secret, secret, [secret])
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret:>20}", str([secret])]
    shown.append(caplog.records[0].getMessage())
    assert all(VALUE not in text for text in shown)
    assert str(secret) == REDACTED
    assert f"{secret:>12}" == f"{REDACTED:>12}"


def test_reveal_gives_the_value_and_wrapping_is_idempotent() -> None:
    secret = Secret(VALUE)
    assert secret.reveal() == VALUE
    assert Secret(secret).reveal() == VALUE


def test_equality_and_hash_follow_the_value() -> None:
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret(VALUE + "x")
    assert hash(Secret(VALUE)) == hash(Secret(VALUE))
    assert Secret(VALUE) != VALUE  # a secret is not its string
    assert len({Secret(VALUE), Secret(VALUE)}) == 1


@pytest.mark.parametrize("value", ["", None, 42])
def test_a_secret_must_be_a_non_empty_string(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        Secret(value)  # type: ignore[arg-type]
    assert info.value.field == "secret"
