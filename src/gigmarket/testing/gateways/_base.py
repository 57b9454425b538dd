"""What both conformance suites share: the factory hooks, fixtures and helpers."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from gigmarket.clock import ManualClock
from gigmarket.errors import PaymentError
from gigmarket.gateways.faults import Fault
from gigmarket.gateways.protocols import Capability, Operation
from gigmarket.gateways.results import DeclineCode
from gigmarket.money import Amount
from gigmarket.testing.gateways.driver import BankBehaviour, CardBehaviour, SandboxDriver

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class GatewayKit:
    """The hooks an adapter's test class fills in, and the fixtures built on them."""

    secrets: ClassVar[tuple[str, ...]] = ()
    """Every credential ``make_gateway`` used (API keys, webhook secrets): the
    kit checks that none of them shows in a repr, an error or a log record."""

    stale_after: ClassVar[timedelta] = timedelta(hours=1)
    """A clock jump after which the adapter must refuse a webhook as stale
    (more than its tolerance)."""

    def make_gateway(self, clock: ManualClock) -> Any:
        """A fresh gateway over a fresh test double, on ``clock``."""
        raise NotImplementedError

    def make_driver(self, gateway: Any) -> SandboxDriver:
        """The driver of ``gateway``'s test double."""
        raise NotImplementedError

    def make_misconfigured_gateway(self, clock: ManualClock) -> Any:
        """A gateway with wrong credentials: constructing or using it must
        raise ``GatewayMisconfigured``. The default skips the test."""
        pytest.skip(f"{type(self).__name__} does not define make_misconfigured_gateway")

    # -- fixtures -----------------------------------------------------------

    @pytest.fixture
    def clock(self) -> ManualClock:
        """A manual clock at the kit's start time, which a test moves with ``advance``."""
        return ManualClock(START)

    @pytest.fixture
    def gateway(self, clock: ManualClock) -> Any:
        """The adapter under test, from ``make_gateway`` on ``clock``."""
        return self.make_gateway(clock)

    @pytest.fixture
    def driver(self, gateway: Any) -> SandboxDriver:
        """The driver of the gateway's test double, from ``make_driver``."""
        return self.make_driver(gateway)

    @pytest.fixture
    def keys(self) -> Iterator[str]:
        """Fresh idempotency keys: ``next(keys)``."""
        return (f"kit-key-{n:04d}" for n in itertools.count(1))

    # -- helpers ------------------------------------------------------------

    @staticmethod
    def currency(gateway: Any) -> str:
        """USD when the gateway takes it (the examples read best), else its first currency."""
        currencies: frozenset[str] = gateway.capabilities.currencies
        return "USD" if "USD" in currencies else sorted(currencies)[0]

    def money(self, gateway: Any, units: int) -> Amount:
        """``units`` minor units in the gateway's test currency."""
        return Amount(units=units, currency=self.currency(gateway))

    @staticmethod
    def need(gateway: Any, capability: Capability) -> None:
        """Skip the test unless the gateway declares ``capability``."""
        if not gateway.capabilities.supports(capability):
            pytest.skip(f"{gateway.name} does not declare {capability.value}")

    @staticmethod
    def lack(gateway: Any, capability: Capability) -> None:
        """Skip the test if the gateway declares ``capability`` (for tests of its refusal)."""
        if gateway.capabilities.supports(capability):
            pytest.skip(f"{gateway.name} declares {capability.value}: nothing to refuse")

    @staticmethod
    def card(
        driver: SandboxDriver, behaviour: CardBehaviour, code: DeclineCode | None = None
    ) -> str:
        """A card token that makes a charge behave as ``behaviour`` (declined with
        ``code``); skips the test if the driver cannot make one."""
        token = driver.card_token(behaviour, code)
        if token is None:
            what = f"{behaviour.value} {code.value}" if code else behaviour.value
            pytest.skip(f"the driver cannot force a card to {what}")
        return token

    @staticmethod
    def bank(driver: SandboxDriver, behaviour: BankBehaviour) -> str:
        """A bank token that makes a payee behave as ``behaviour``; skips the test
        if the driver cannot make one."""
        token = driver.bank_token(behaviour)
        if token is None:
            pytest.skip(f"the driver cannot force a bank account that {behaviour.value}")
        return token

    @staticmethod
    def arm(driver: SandboxDriver, operation: Operation, fault: Fault) -> None:
        """Make the next call of ``operation`` fail with ``fault``; skips the test if
        the driver cannot simulate it."""
        if not driver.fail_next(operation, fault):
            pytest.skip(f"the driver cannot simulate {fault.kind.value} on {operation.value}")

    @staticmethod
    def arm_webhook(driver: SandboxDriver, fault: Fault) -> None:
        """Apply ``fault`` to the next webhook delivery; skips the test if the driver
        cannot simulate it."""
        if not driver.fail_next_webhook(fault):
            pytest.skip(f"the driver cannot simulate a webhook that is {fault.kind.value}")

    @staticmethod
    def assert_no_secret(
        secrets: Iterable[str],
        *,
        texts: Iterable[str] = (),
        errors: Iterable[BaseException] = (),
        records: Iterable[logging.LogRecord] = (),
    ) -> None:
        """No secret shows in ``texts``, in any error of a chain (message,
        repr, attributes) or in a log record (message, arguments)."""
        seen = list(texts)
        for error in errors:
            link: BaseException | None = error
            while link is not None:
                seen += [str(link), repr(link), repr(vars(link))]
                link = link.__cause__ or link.__context__
        for record in records:
            seen += [record.getMessage(), repr(record.args)]
        wanted = [secret for secret in secrets if secret]
        assert wanted, "no secrets to look for: set `secrets` on the test class"
        leaks = [(secret[:4] + "…", text) for secret in wanted for text in seen if secret in text]
        assert not leaks, f"secrets leaked: {leaks[:3]}"

    @staticmethod
    def raised(call: Callable[[], object]) -> PaymentError:
        """Run ``call``, which must raise a PaymentError; return it."""
        with pytest.raises(PaymentError) as info:
            call()
        return info.value
