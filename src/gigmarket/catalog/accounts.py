"""Marketplace users and seller profiles.

One :class:`UserAccount` may both buy and sell: Fiverr-like marketplaces do not
have separate buyer and seller sign-ups, and a designer who buys a voice-over
is the same person. An account *sells* once it has a :class:`SellerProfile`.

Suspension is a status of the account, not of its gigs: a suspended seller's
gigs keep their own status (so reactivation restores them as they were) but
vanish from search and cannot be ordered; orders already running continue,
because the buyers in them have paid.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from gigmarket.catalog.commands import CreateAccount, SetUpProfile

__all__ = [
    "AccountStatus",
    "LanguageLevel",
    "LanguageSkill",
    "SellerProfile",
    "UserAccount",
]


class AccountStatus(enum.Enum):
    """Whether an account may act on the marketplace."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class LanguageLevel(enum.Enum):
    """How well a seller speaks a language (the usual four steps)."""

    BASIC = "basic"
    CONVERSATIONAL = "conversational"
    FLUENT = "fluent"
    NATIVE = "native"


@attrs.frozen(kw_only=True)
class UserAccount:
    """A marketplace user. ``username`` is lower-case and unique."""

    id: str
    username: str
    created_at: datetime
    status: AccountStatus = AccountStatus.ACTIVE
    status_changed_at: datetime | None = None
    suspension_reason: str = ""

    @classmethod
    def from_command(cls, command: CreateAccount, *, id: str, now: datetime) -> UserAccount:
        """A new, active account ``id`` opened at ``now`` from a validated
        [CreateAccount][gigmarket.catalog.commands.CreateAccount]."""
        return cls(id=id, username=command.username, created_at=now)

    @property
    def is_suspended(self) -> bool:
        return self.status is AccountStatus.SUSPENDED

    def suspend(self, reason: str, now: datetime) -> UserAccount:
        """The account suspended at ``now`` for ``reason``; its gigs keep their own status."""
        return attrs.evolve(
            self,
            status=AccountStatus.SUSPENDED,
            status_changed_at=now,
            suspension_reason=reason,
        )

    def reactivate(self, now: datetime) -> UserAccount:
        """The account active again from ``now``, its suspension reason cleared."""
        return attrs.evolve(
            self, status=AccountStatus.ACTIVE, status_changed_at=now, suspension_reason=""
        )


@attrs.frozen
class LanguageSkill:
    """A language (ISO 639 code, lower-case) and how well the seller speaks it."""

    language: str
    level: LanguageLevel


@attrs.frozen(kw_only=True)
class SellerProfile:
    """What buyers see about a seller. ``member_since`` is the account's creation date.

    ``country`` is an ISO 3166-1 alpha-2 code; the catalog checks its shape
    (two capital letters), the host is expected to offer only real ones.
    """

    account_id: str
    display_name: str
    headline: str
    description: str
    skills: tuple[str, ...]
    languages: tuple[LanguageSkill, ...]
    country: str
    member_since: date
    updated_at: datetime

    @classmethod
    def from_command(
        cls, command: SetUpProfile, *, account: UserAccount, now: datetime
    ) -> SellerProfile:
        """The profile a validated [SetUpProfile][gigmarket.catalog.commands.SetUpProfile]
        describes, for ``account``, updated at ``now``; ``member_since`` is the
        account's creation date."""
        return cls(
            account_id=account.id,
            display_name=command.display_name,
            headline=command.headline,
            description=command.description,
            skills=tuple(command.skills),
            languages=tuple(
                LanguageSkill(language.language, language.level) for language in command.languages
            ),
            country=command.country,
            member_since=account.created_at.date(),
            updated_at=now,
        )

    def speaks(self, language: str) -> bool:
        """Whether the seller lists ``language`` (a lower-case ISO 639 code), at any level."""
        return any(skill.language == language for skill in self.languages)
