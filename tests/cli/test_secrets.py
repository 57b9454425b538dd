"""No secret in a repr, a message, a traceback's chain or a pickle: the store
URL's password (in its userinfo or as a query parameter), a driver message
that quotes it, and a :class:`~gigmarket.gateways.secret.Secret`."""

from __future__ import annotations

import copy
import pickle

import pytest

from gigmarket.admin.cli import main
from gigmarket.admin.operations import migrate_store, open_store, parse_location
from gigmarket.errors import StorageError, ValidationError
from gigmarket.gateways.secret import Secret
from gigmarket.storage.urls import redact_url, scrub, url_secrets

PASSWORD = "s3cret-Pw"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"postgresql://shop:{PASSWORD}@db.internal:5432/market",
            "postgresql://shop:***@db.internal:5432/market",
        ),
        (
            f"postgresql://shop@db.internal/market?password={PASSWORD}&sslmode=require",
            "postgresql://shop@db.internal/market?password=***&sslmode=require",
        ),
        (
            f"postgresql://shop@db/market?sslpassword={PASSWORD}&application_name=gm",
            "postgresql://shop@db/market?sslpassword=***&application_name=gm",
        ),
        (
            f"postgresql://shop:{PASSWORD}@db/market?PASSWORD={PASSWORD}",
            "postgresql://shop:***@db/market?PASSWORD=***",
        ),
        (
            "postgresql://shop@db/market?sslmode=require",
            "postgresql://shop@db/market?sslmode=require",
        ),
    ],
)
def test_a_location_shows_no_password_anywhere(url: str, shown: str) -> None:
    location = parse_location(url)
    assert location.display == shown
    for text in (location.display, repr(location), str(location)):
        assert PASSWORD not in text, text
    if PASSWORD in url:
        assert location.scrub(f"the server said: {PASSWORD!r}") == "the server said: '***'"


def test_a_percent_encoded_password_is_scrubbed_in_both_spellings() -> None:
    url = "postgresql://shop:p%40ss%2Fw0rd@db/market?password=x%26y-z"
    secrets = url_secrets(url)
    assert {"p%40ss%2Fw0rd", "p@ss/w0rd", "x%26y-z", "x&y-z"} <= set(secrets)
    assert scrub("p@ss/w0rd and x&y-z", secrets) == "*** and ***"
    assert "w0rd" not in redact_url(url)


def test_a_sqlite_location_has_no_secrets() -> None:
    location = parse_location("sqlite:///market.db")
    assert location.secrets == []
    assert location.scrub("market.db") == "market.db"


# The driver quotes a password it cannot parse (an invalid percent-escape):
# the one line must not, and no chained driver error may carry it either.
UNPARSABLE = "postgresql://shop:s3cret%zzPw@127.0.0.1:1/none"


def test_a_driver_message_quoting_the_password_is_scrubbed() -> None:
    location = parse_location(UNPARSABLE)
    for call in (open_store, migrate_store):
        with pytest.raises(StorageError) as caught:
            call(location)
        error = caught.value
        assert "s3cret%zzPw" not in str(error)
        assert "***" in str(error)
        assert error.__cause__ is None
        assert error.__suppress_context__


@pytest.mark.parametrize("command", ["audit", "migrate", "run-due"])
def test_the_commands_never_print_the_password(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for url in (
        UNPARSABLE,
        f"postgresql://shop:{PASSWORD}@127.0.0.1:1/none",
        f"postgresql://shop@127.0.0.1:1/none?password={PASSWORD}",
    ):
        assert main([command, "--db", url]) == 2
        out, err = capsys.readouterr()
        assert err.startswith("gigmarket: error: ")
        for text in (out, err):
            assert PASSWORD not in text, text
            assert "s3cret%zzPw" not in text, text
        monkeypatch.setenv("GIGMARKET_DB", url)
        assert main([command]) == 2
        out, err = capsys.readouterr()
        assert PASSWORD not in out + err
        assert "s3cret%zzPw" not in out + err
        monkeypatch.delenv("GIGMARKET_DB")


def test_a_secret_refuses_to_be_pickled_at_any_protocol() -> None:
    secret = Secret("sk_sandbox_pickle_me_not")
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(ValidationError, match="cannot be pickled") as caught:
            pickle.dumps({"config": [secret]}, protocol=protocol)
        assert caught.value.field == "secret"
        assert "pickle_me_not" not in str(caught.value)


def test_a_secret_is_copied_as_itself() -> None:
    secret = Secret("sk_sandbox_copied")
    assert copy.copy(secret) is secret
    assert copy.deepcopy({"key": secret})["key"] is secret
