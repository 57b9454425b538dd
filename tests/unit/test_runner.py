"""The command runner every service uses: scoping, replay, retries, commit."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import pytest

from gigmarket._kernel.runner import Command, Handler, Runner, execute
from gigmarket.catalog import Catalog, CreateAccount
from gigmarket.errors import IdempotencyConflict, TransientStorageError, ValidationError
from gigmarket.idempotency import internal_key
from gigmarket.storage.memory.store import MemoryStorage


@attrs.frozen(kw_only=True)
class Greet(Command):
    OPERATION: ClassVar[str] = "greet"
    PARTY: ClassVar[str | None] = "who"

    who: str
    words: str = "hello"

    def payload(self) -> object:
        return {"who": self.who, "words": self.words}


def _handler(calls: list[Greet]) -> Handler[Greet, Any, str]:
    def handle(command: Greet, uow: Any) -> str:
        calls.append(command)
        return f"{command.words} {command.who} #{len(calls)}"

    return Handler(handle, lambda result: result, lambda uow, result_id, command: result_id)


def test_a_host_key_is_scoped_by_operation_and_party_and_replays() -> None:
    storage = MemoryStorage()
    calls: list[Greet] = []
    runner: Runner[Any, Any] = Runner(storage)
    first = runner.run(_handler(calls), Greet(who="ann"), key="k1")
    again = runner.run(_handler(calls), Greet(who="ann"), key="k1")
    assert first == again == "hello ann #1"
    assert calls[0].key is not None
    assert calls[0].key.scope == "host:greet:ann"
    # another party's same key is another request
    assert runner.run(_handler(calls), Greet(who="bob"), key="k1") == "hello bob #2"
    with pytest.raises(IdempotencyConflict):
        runner.run(_handler(calls), Greet(who="ann", words="bye"), key="k1")


def test_a_keyless_call_never_replays_and_an_internal_key_keeps_its_scope() -> None:
    storage = MemoryStorage()
    calls: list[Greet] = []
    runner: Runner[Any, Any] = Runner(storage)
    runner.run(_handler(calls), Greet(who="ann"))
    runner.run(_handler(calls), Greet(who="ann"))
    assert len(calls) == 2
    runner.run(_handler(calls), Greet(who="ann"), key=internal_key("payment", "ch_1"))
    assert calls[-1].key == internal_key("payment", "ch_1")


def test_a_bad_key_is_refused_before_the_store_is_touched() -> None:
    def storage() -> Any:
        raise AssertionError("opened")

    runner: Runner[Any, Any] = Runner(storage)
    with pytest.raises(ValidationError):
        runner.run(_handler([]), Greet(who="ann"), key="")


def test_a_transient_conflict_runs_the_whole_unit_of_work_again() -> None:
    storage = MemoryStorage()
    tries: list[int] = []

    def work(uow: Any) -> int:
        tries.append(1)
        if len(tries) < 3:
            raise TransientStorageError("lost a race")
        return len(tries)

    runner: Runner[Any, Any] = Runner(storage)
    assert runner.transact(work) == 3
    tries.clear()
    with pytest.raises(TransientStorageError):
        runner.transact(work, retry=False)
    assert len(tries) == 1


def test_a_keyed_command_needs_a_loader() -> None:
    storage = MemoryStorage()
    with storage() as uow, pytest.raises(TypeError):
        execute(uow.idempotency, uow, Handler(lambda c, u: "x"), Greet(who="ann"), key="k")


def test_the_catalog_retries_like_the_other_services() -> None:
    storage = MemoryStorage()
    catalog = Catalog(storage)
    real = storage
    failures = [TransientStorageError("serialization failure")]

    def flaky() -> Any:
        uow = real()
        if failures:
            original = uow.commit

            def commit() -> None:
                if failures:
                    raise failures.pop()
                original()

            uow.commit = commit  # type: ignore[method-assign]
        return uow

    catalog._runner._storage = flaky  # type: ignore[attr-defined]
    command = CreateAccount(username="annie")
    account = catalog.create_account(command, idempotency_key="signup-1")
    assert catalog.account(account.id) == account
    assert catalog.create_account(command, idempotency_key="signup-1") == account
