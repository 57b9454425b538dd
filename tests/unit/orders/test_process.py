"""The process as data: its lint, its renderings, and the docs that show them.

``Process.lint`` is run on the default process under both presets, then on
processes broken on purpose, one way each, to show that every rule catches
what it is meant to and nothing else. The Mermaid diagram and the transition
table in ``docs/explanation/lifecycle.md`` are generated from the process;
the last tests fail when the page is stale and say how to regenerate it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from gigmarket.orders import (
    DEFAULT_PROCESS,
    ActionContext,
    Actor,
    LifecyclePolicy,
    LintProblem,
    OrderState,
    Process,
    StateSpec,
    Timer,
    Transition,
    fiverr_policy,
    upwork_policy,
)

S = OrderState
P = DEFAULT_PROCESS
DOCS_PAGE = Path(__file__).resolve().parents[3] / "docs" / "explanation" / "lifecycle.md"


@pytest.mark.parametrize("policy", [fiverr_policy(), upwork_policy()], ids=lambda p: p.name)
def test_the_default_process_is_sound_under_both_presets(policy: LifecyclePolicy) -> None:
    assert P.lint(policy) == []


def test_the_default_process_is_sound_without_a_policy() -> None:
    assert P.lint() == []


def test_every_state_holding_money_has_a_timer_and_every_timer_a_system_transition() -> None:
    for spec in P.states:
        if spec.holds_escrow:
            assert P.timers_for(spec.state), spec.state
    for timer in P.timers:
        takers = P.candidates(timer.state, timer.action)
        assert any(Actor.SYSTEM in t.actors for t in takers), timer


def test_terminal_states_and_money() -> None:
    terminal = {spec.state for spec in P.states if spec.terminal}
    assert terminal == {S.COMPLETED, S.CANCELLED, S.RESOLVED, S.EXPIRED}
    holding = {spec.state for spec in P.states if spec.holds_escrow}
    assert holding == {
        S.AWAITING_REQUIREMENTS,
        S.IN_PROGRESS,
        S.DELIVERED,
        S.CANCELLATION_REQUESTED,
        S.DISPUTED,
    }
    assert P.initial is S.PENDING_PAYMENT


# -- broken on purpose ---------------------------------------------------------


def without_transitions(process: Process[ActionContext], **match: object) -> Process[ActionContext]:
    def matches(t: Transition[ActionContext]) -> bool:
        return all(getattr(t, name) == value for name, value in match.items())

    return attrs.evolve(
        process, transitions=tuple(t for t in process.transitions if not matches(t))
    )


def with_timers(process: Process[ActionContext], *timers: Timer) -> Process[ActionContext]:
    return attrs.evolve(process, timers=timers)


def problems(process: Process[ActionContext]) -> set[tuple[str, str]]:
    return {(p.rule, p.message) for p in process.lint(fiverr_policy())}


REOPEN = Transition[ActionContext](
    action="reopen", source=S.COMPLETED, target=S.IN_PROGRESS, actors=frozenset({Actor.OPERATOR})
)
BROKEN: dict[str, tuple[Process[ActionContext], set[tuple[str, str]]]] = {
    "an unreachable state": (
        without_transitions(P, action="resolve_dispute", target=S.RESOLVED),
        {("reachable", "resolved cannot be reached")},
    ),
    "a terminal state with an exit": (
        attrs.evolve(P, transitions=(*P.transitions, REOPEN)),
        {("absorbing", "terminal completed has a way out")},
    ),
    "a state with no exit that is not terminal": (
        attrs.evolve(
            without_transitions(P, source=S.DISPUTED),
            timers=tuple(t for t in P.timers if t.state is not S.DISPUTED),
        ),
        {
            ("stuck", "disputed has no way out"),
            ("money-stuck", "disputed holds escrow but no timer moves it on"),
            ("reachable", "resolved cannot be reached"),
        },
    ),
    "a money-holding state without a timer": (
        with_timers(P, *(t for t in P.timers if t.state is not S.DELIVERED)),
        {("money-stuck", "delivered holds escrow but no timer moves it on")},
    ),
    "a timer whose action the system cannot take": (
        with_timers(
            P,
            *(attrs.evolve(t, action="accept") if t.state is S.DELIVERED else t for t in P.timers),
        ),
        {("timer", "timer auto-complete: the system cannot accept from delivered")},
    ),
    "a timer naming a missing policy field": (
        with_timers(
            P,
            *(
                attrs.evolve(t, after="auto_complete_someday") if t.state is S.DELIVERED else t
                for t in P.timers
            ),
        ),
        {("timer", "timer auto-complete: no policy field auto_complete_someday")},
    ),
    "a timer naming a policy field that is not a delay": (
        with_timers(
            P,
            *(attrs.evolve(t, after="gateway") if t.state is S.DELIVERED else t for t in P.timers),
        ),
        {("timer", "timer auto-complete: policy field gateway is not a delay")},
    ),
    "a timer with an unknown anchor": (
        with_timers(
            P,
            *(attrs.evolve(t, anchor="noon") if t.state is S.DELIVERED else t for t in P.timers),
        ),
        {("timer", "timer auto-complete: anchor noon")},
    ),
    "a missing state spec": (
        attrs.evolve(P, states=tuple(s for s in P.states if s.state is not S.EXPIRED)),
        {("spec", "expired has no spec")},
    ),
}


@pytest.mark.parametrize("name", BROKEN)
def test_lint_catches_each_broken_process(name: str) -> None:
    process, expected = BROKEN[name]
    assert problems(process) == expected
    assert all(isinstance(p, LintProblem) for p in process.lint(fiverr_policy()))


def test_policy_fields_are_only_checked_when_a_policy_is_given() -> None:
    process, _ = BROKEN["a timer naming a missing policy field"]
    assert process.lint() == []


def test_a_spec_that_lies_about_money_is_caught() -> None:
    """Declaring a state as holding escrow obliges it to have a timer."""
    states = tuple(
        StateSpec(s.state, terminal=s.terminal, holds_escrow=True, description=s.description)
        if s.state is S.PENDING_PAYMENT
        else s
        for s in P.states
    )
    assert problems(attrs.evolve(P, states=states)) == set()  # it has one: payment expiry
    timers = tuple(t for t in P.timers if t.state is not S.PENDING_PAYMENT)
    assert problems(attrs.evolve(P, states=states, timers=timers)) == {
        ("money-stuck", "pending_payment holds escrow but no timer moves it on"),
    }


def test_a_policy_with_other_delays_keeps_the_process_sound() -> None:
    policy = fiverr_policy(auto_complete_after=timedelta(days=5))
    assert P.lint(policy) == []


# -- renderings ------------------------------------------------------------------


def _actors(t: Transition[ActionContext]) -> str:
    return "/".join(sorted(a.value for a in t.actors))


@pytest.mark.parametrize(
    "transition",
    P.transitions,
    ids=[f"{t.action}-{t.source.value}-{t.target.value}" for t in P.transitions],
)
def test_every_transition_is_drawn_and_tabled(transition: Transition[ActionContext]) -> None:
    source, target, action = transition.source.value, transition.target.value, transition.action
    assert f"    {source} --> {target}: {action} ({_actors(transition)})" in P.mermaid()
    assert f'"{source}" -> "{target}" [label="{action} ({_actors(transition)})"];' in P.dot()
    who = ", ".join(sorted(a.value for a in transition.actors))
    guards = ", ".join(g.name for g in transition.guards) or "—"
    effects = ", ".join(transition.effects) or "—"
    row = f"| `{action}` | {source} | {target} | {who} | {guards} | {effects} |"
    assert row in P.table().splitlines()


def test_the_renderings_have_one_line_per_transition() -> None:
    edges = [line for line in P.mermaid().splitlines() if ": " in line]
    assert len(edges) == len(P.transitions)
    assert len(P.table().splitlines()) == 2 + len(P.transitions)
    assert P.dot().count(" -> ") == len(P.transitions)


def test_the_diagram_starts_at_the_initial_state_and_ends_in_the_terminal_ones() -> None:
    lines = P.mermaid().splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert lines[1] == "    [*] --> pending_payment"
    ends = {line.strip().split(" --> ")[0] for line in lines if line.endswith("--> [*]")}
    assert ends == {"completed", "cancelled", "resolved", "expired"}
    for state in ends:
        assert f'"{state}" [label="{state}", peripheries=2];' in P.dot()


def test_timed_transitions_carry_a_clock() -> None:
    timed = {(t.state.value, t.action) for t in P.timers}
    for line in P.mermaid().splitlines():
        if ": " not in line:
            continue
        source = line.strip().split(" --> ")[0]
        action = line.split(": ")[1].split(" ")[0]
        assert line.endswith("⏱") == ((source, action) in timed), line


# -- the docs page -------------------------------------------------------------------

REGENERATE = (
    "docs/explanation/lifecycle.md is stale: paste the output of\n"
    '    python -c "from gigmarket.orders import DEFAULT_PROCESS; '
    "print(DEFAULT_PROCESS.{method}(), end='')\"\n"
    "between the markers '<!-- generated: {what} -->' and '<!-- end generated -->'{fence}."
)


def generated(what: str) -> str:
    """The text between ``<!-- generated: what -->`` and the next end marker."""
    text = DOCS_PAGE.read_text(encoding="utf-8")
    found = re.search(
        rf"<!-- generated: {re.escape(what)} -->\n(.*?)<!-- end generated -->", text, re.DOTALL
    )
    assert found, f"{DOCS_PAGE.name} lacks the '<!-- generated: {what} -->' markers"
    return found.group(1)


def test_the_docs_show_the_current_diagram() -> None:
    block = generated("process diagram")
    fence = re.fullmatch(r"\n?```mermaid\n(.*?)```\n\n?", block, re.DOTALL)
    assert fence, "the diagram between the markers must be one ```mermaid fence"
    assert fence.group(1) == P.mermaid(), REGENERATE.format(
        method="mermaid", what="process diagram", fence=", inside a ```mermaid fence"
    )


def test_the_docs_show_the_current_table() -> None:
    assert generated("transition table").strip("\n") + "\n" == P.table(), REGENERATE.format(
        method="table", what="transition table", fence=""
    )
