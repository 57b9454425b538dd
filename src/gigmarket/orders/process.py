"""A lifecycle declared as data: states, transitions, guards, effects and timers.

The order service does not contain an ``if state == ...`` chain. It asks a
:class:`Process` which transition an action takes from the current state,
checks the transition's actors and guards, runs its effects, and arms the
timers of the state it lands in. Because the process is an object, the same
object that runs the code draws the diagram in the docs (:meth:`Process.mermaid`)
and can be checked before it runs (:meth:`Process.lint`): every state
reachable, terminal states absorbing, and no state that holds the buyer's
money without a timer that moves it on when nobody acts, so money can never
be stuck.

The process is generic over what guards and effects do: they are named
callables, supplied by :mod:`gigmarket.orders.lifecycle`, so a host can build
its own process from the same pieces.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, Generic, TypeVar

import attrs

from gigmarket.orders.model import Actor, OrderState

__all__ = ["Guard", "LintProblem", "Process", "StateSpec", "Timer", "Transition"]

C = TypeVar("C")


@attrs.frozen
class Guard(Generic[C]):
    """A named condition a transition needs; ``check`` returns why not, or ``None``."""

    name: str
    check: Callable[[C], str | None] = attrs.field(eq=False, repr=False)


@attrs.frozen
class StateSpec:
    """A state and what it means for money and for the order's end."""

    state: OrderState
    terminal: bool = False
    holds_escrow: bool = False
    description: str = ""


@attrs.frozen(kw_only=True)
class Transition(Generic[C]):
    """``action`` by one of ``actors`` moves an order from ``source`` to ``target``.

    Several transitions may share an action and a source, told apart by their
    guards (``decline_cancellation`` returns to whichever state the order was
    in); the first whose guards all pass is taken.
    """

    action: str
    source: OrderState
    target: OrderState
    actors: frozenset[Actor]
    guards: tuple[Guard[C], ...] = ()
    effects: tuple[str, ...] = ()
    parameters: frozenset[str] = frozenset()
    """The keyword arguments this transition reads; any other is refused."""
    description: str = ""


@attrs.frozen(kw_only=True)
class Timer:
    """When an order has sat in ``state`` for ``after`` (a policy field), the
    system takes ``action``.

    ``anchor`` is the instant the delay counts from: ``"entered"`` (when the
    order entered the state) or ``"due"`` (the order's due date).
    """

    name: str
    state: OrderState
    after: str
    action: str
    anchor: str = "entered"


@attrs.frozen(kw_only=True)
class LintProblem:
    """One way a process is broken."""

    rule: str
    message: str


@attrs.frozen(kw_only=True)
class Process(Generic[C]):
    """A whole lifecycle: its states, initial state, transitions and timers."""

    name: str
    initial: OrderState
    states: tuple[StateSpec, ...]
    transitions: tuple[Transition[C], ...]
    timers: tuple[Timer, ...] = ()
    _index: dict[tuple[OrderState, str], tuple[Transition[C], ...]] = attrs.field(
        init=False, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        index: dict[tuple[OrderState, str], list[Transition[C]]] = {}
        for transition in self.transitions:
            index.setdefault((transition.source, transition.action), []).append(transition)
        object.__setattr__(self, "_index", {key: tuple(value) for key, value in index.items()})

    # -- running ----------------------------------------------------------

    def spec(self, state: OrderState) -> StateSpec:
        """What the process declares about ``state``; ``KeyError`` if it declares nothing."""
        for spec in self.states:
            if spec.state is state:
                return spec
        raise KeyError(state)

    def candidates(self, state: OrderState, action: str) -> tuple[Transition[C], ...]:
        """The transitions ``action`` may take from ``state``, in declaration order."""
        return self._index.get((state, action), ())

    def actions(self) -> tuple[str, ...]:
        """Every action name, each once, in declaration order."""
        return tuple(dict.fromkeys(t.action for t in self.transitions))

    def timers_for(self, state: OrderState) -> tuple[Timer, ...]:
        """The timers armed when an order enters ``state``, in declaration order
        (empty if none)."""
        return tuple(timer for timer in self.timers if timer.state is state)

    # -- rendering --------------------------------------------------------

    def mermaid(self) -> str:
        """A Mermaid ``stateDiagram-v2`` of the process, timers drawn as ``⏱`` edges."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial.value}"]
        seen: set[tuple[str, str, str]] = set()
        for transition in self.transitions:
            actors = "/".join(sorted(actor.value for actor in transition.actors))
            timed = any(
                timer.action == transition.action and timer.state is transition.source
                for timer in self.timers
            )
            label = f"{transition.action} ({actors})" + (" ⏱" if timed else "")
            key = (transition.source.value, transition.target.value, label)
            if key not in seen:
                seen.add(key)
                lines.append(f"    {key[0]} --> {key[1]}: {label}")
        lines.extend(f"    {spec.state.value} --> [*]" for spec in self.states if spec.terminal)
        return "\n".join(lines) + "\n"

    def dot(self) -> str:
        """The same diagram in Graphviz DOT."""
        lines = [
            f'digraph "{self.name}" {{',
            "    rankdir=LR;",
            "    node [shape=box, style=rounded];",
        ]
        for spec in self.states:
            shape = ", peripheries=2" if spec.terminal else ""
            lines.append(f'    "{spec.state.value}" [label="{spec.state.value}"{shape}];')
        for t in self.transitions:
            actors = "/".join(sorted(actor.value for actor in t.actors))
            lines.append(
                f'    "{t.source.value}" -> "{t.target.value}" [label="{t.action} ({actors})"];'
            )
        lines.append("}")
        return "\n".join(lines) + "\n"

    def table(self) -> str:
        """A Markdown table of every transition: action, from, to, who, guards, effects."""
        rows = [
            "| action | from | to | who | guards | effects |",
            "|---|---|---|---|---|---|",
        ]
        for t in self.transitions:
            rows.append(
                f"| `{t.action}` | {t.source.value} | {t.target.value} | "
                f"{', '.join(sorted(a.value for a in t.actors))} | "
                f"{', '.join(g.name for g in t.guards) or '—'} | "
                f"{', '.join(t.effects) or '—'} |"
            )
        return "\n".join(rows) + "\n"

    # -- checking ---------------------------------------------------------

    def lint(self, policy: Any = None) -> list[LintProblem]:
        """Everything structurally wrong with this process; empty when sound.

        Checks: every state has a spec; every state is reachable from the
        initial one; terminal states have no way out; every non-terminal state
        has one; every timer names a policy field (when ``policy`` is given)
        and an action the system may take from its state; and every state
        holding escrow has a timer, so that money moves on when nobody acts.
        """
        problems: list[LintProblem] = []
        specs = {spec.state: spec for spec in self.states}
        for state in OrderState:
            if state not in specs:
                problems.append(LintProblem(rule="spec", message=f"{state.value} has no spec"))
        reachable = _reachable(self.initial, self.transitions)
        problems.extend(
            LintProblem(rule="reachable", message=f"{spec.state.value} cannot be reached")
            for spec in self.states
            if spec.state not in reachable
        )
        sources = {t.source for t in self.transitions}
        for spec in self.states:
            if spec.terminal and spec.state in sources:
                problems.append(
                    LintProblem(
                        rule="absorbing", message=f"terminal {spec.state.value} has a way out"
                    )
                )
            if not spec.terminal and spec.state not in sources:
                problems.append(
                    LintProblem(rule="stuck", message=f"{spec.state.value} has no way out")
                )
            if spec.holds_escrow and not self.timers_for(spec.state):
                problems.append(
                    LintProblem(
                        rule="money-stuck",
                        message=f"{spec.state.value} holds escrow but no timer moves it on",
                    )
                )
        for timer in self.timers:
            if policy is not None and not hasattr(policy, timer.after):
                problems.append(
                    LintProblem(
                        rule="timer", message=f"timer {timer.name}: no policy field {timer.after}"
                    )
                )
            elif policy is not None and not isinstance(getattr(policy, timer.after), timedelta):
                problems.append(
                    LintProblem(
                        rule="timer",
                        message=f"timer {timer.name}: policy field {timer.after} is not a delay",
                    )
                )
            if not any(
                Actor.SYSTEM in t.actors for t in self.candidates(timer.state, timer.action)
            ):
                problems.append(
                    LintProblem(
                        rule="timer",
                        message=f"timer {timer.name}: the system cannot {timer.action} "
                        f"from {timer.state.value}",
                    )
                )
            if timer.anchor not in {"entered", "due"}:
                problems.append(
                    LintProblem(rule="timer", message=f"timer {timer.name}: anchor {timer.anchor}")
                )
        return problems


def _reachable(initial: OrderState, transitions: Iterable[Transition[Any]]) -> set[OrderState]:
    edges: dict[OrderState, set[OrderState]] = {}
    for transition in transitions:
        edges.setdefault(transition.source, set()).add(transition.target)
    seen = {initial}
    queue = deque([initial])
    while queue:
        for target in edges.get(queue.popleft(), ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen
