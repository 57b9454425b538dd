r"""Fee policies over time: an order is priced under the policy in force when it was placed.

Platforms change their fees; orders placed before a change must keep the
price they were sold at, even when they settle after it. A
:class:`FeeSchedule` is an ordered list of dated :class:`PolicyVersion`\ s and
answers "which policy applied at this instant?" without guessing: times must
be timezone-aware, two versions may not take effect at the same instant, and
an instant before the first version is an error rather than a fallback.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TypeAlias

import attrs

from gigmarket.clock import require_aware
from gigmarket.errors import FeePolicyError
from gigmarket.escrow.fees import FeeContext, FeePolicy, PriceBreakdown
from gigmarket.money import Amount

__all__ = ["FeeSchedule", "PolicyVersion", "VersionLike"]


def _effective_from(moment: datetime) -> datetime:
    return require_aware(moment, "effective_from")


@attrs.frozen(kw_only=True)
class PolicyVersion:
    """``policy`` is in force from ``effective_from`` (inclusive, stored in UTC)
    until the next version of the schedule takes effect."""

    effective_from: datetime = attrs.field(converter=_effective_from)
    policy: FeePolicy = attrs.field(validator=attrs.validators.instance_of(FeePolicy))


_BEGINNING = datetime.min.replace(tzinfo=UTC)

VersionLike: TypeAlias = "PolicyVersion | tuple[datetime, FeePolicy]"


def _versions(versions: Iterable[VersionLike]) -> tuple[PolicyVersion, ...]:
    ordered = sorted(
        (
            version
            if isinstance(version, PolicyVersion)
            else PolicyVersion(effective_from=version[0], policy=version[1])
            for version in versions
        ),
        key=lambda version: version.effective_from,
    )
    if not ordered:
        raise FeePolicyError("a fee schedule needs at least one version")
    for earlier, later in itertools.pairwise(ordered):
        if earlier.effective_from == later.effective_from:
            raise FeePolicyError(
                f"{earlier.policy.name!r} and {later.policy.name!r} both take effect at "
                f"{later.effective_from.isoformat()}; which one applies would be a guess",
                policy=later.policy.name,
            )
    return tuple(ordered)


@attrs.frozen(kw_only=True)
class FeeSchedule:
    """Fee policies over time: an order is priced under the one in force when
    it was placed.

    Versions may be given in any order, as :class:`PolicyVersion` or as
    ``(effective_from, policy)`` pairs; they are kept sorted, and two versions
    taking effect at the same moment are refused. Times must be
    timezone-aware (a naive datetime is ambiguous by hours) and are compared
    in UTC.
    """

    versions: tuple[PolicyVersion, ...] = attrs.field(converter=_versions)

    @classmethod
    def always(cls, policy: FeePolicy) -> FeeSchedule:
        """A schedule with one policy, in force at any time."""
        return cls(versions=[PolicyVersion(effective_from=_BEGINNING, policy=policy)])

    def with_version(self, effective_from: datetime, policy: FeePolicy) -> FeeSchedule:
        """This schedule plus ``policy`` from ``effective_from`` on."""
        return FeeSchedule(
            versions=[*self.versions, PolicyVersion(effective_from=effective_from, policy=policy)]
        )

    def policy_at(self, when: datetime) -> FeePolicy:
        """The policy in force at ``when``; before the first version, an error."""
        moment = require_aware(when, "when")
        index = bisect.bisect_right(self.versions, moment, key=lambda v: v.effective_from)
        if index == 0:
            first = self.versions[0]
            raise FeePolicyError(
                f"no fee policy was in force at {moment.isoformat()}; the first, "
                f"{first.policy.name!r}, takes effect at {first.effective_from.isoformat()}",
                policy=first.policy.name,
            )
        return self.versions[index - 1].policy

    def price(
        self, subtotal: Amount, *, placed_at: datetime, context: FeeContext | None = None
    ) -> PriceBreakdown:
        """Price an order under the policy in force when it was placed."""
        return self.policy_at(placed_at).price(subtotal, context)
