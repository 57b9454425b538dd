"""The fixed size limits of what sellers and buyers type in.

They resemble what large freelance marketplaces enforce (an 80-character
title, five tags, a 1,200-character description, three packages) and exist for
the same reasons: search results stay readable, and nobody stores a novel in a
tag. Lengths are in Unicode code points after NFC normalisation. The limits of
text kept on orders (reviews, reasons, answers) are in :mod:`gigmarket.text`,
with the rules every free text obeys; ``REASON_MAX`` is shared from there. Prices are
not here: their range is per currency and configurable
(:class:`~gigmarket.catalog.taxonomy.GigRules`).
"""

from __future__ import annotations

from gigmarket.text import REASON_MAX

__all__ = [
    "DESCRIPTION_MAX",
    "DESCRIPTION_MIN_TO_PUBLISH",
    "DISPLAY_NAME_MAX",
    "EXTRAS_MAX",
    "EXTRA_DAYS_MAX",
    "FAQS_MAX",
    "FAQ_ANSWER_MAX",
    "FAQ_QUESTION_MAX",
    "FEATURES_MAX",
    "FEATURE_MAX",
    "GALLERY_MAX",
    "GALLERY_REF_MAX",
    "HEADLINE_MAX",
    "LANGUAGES_MAX",
    "PACKAGES_MAX",
    "PACKAGE_DELIVERY_DAYS_MAX",
    "PACKAGE_DESCRIPTION_MAX",
    "PACKAGE_NAME_MAX",
    "PROFILE_DESCRIPTION_MAX",
    "QUESTIONS_MAX",
    "QUESTION_CHOICES_MAX",
    "QUESTION_CHOICE_MAX",
    "QUESTION_TEXT_MAX",
    "REASON_MAX",
    "REVISIONS_MAX",
    "SEARCH_LIMIT_MAX",
    "SEARCH_TERMS_MAX",
    "SEARCH_TEXT_MAX",
    "SKILLS_MAX",
    "SKILL_MAX",
    "TAGS_MAX",
    "TAG_MAX",
    "TAG_MIN",
    "TITLE_MAX",
    "TITLE_MIN",
]

# accounts and profiles
DISPLAY_NAME_MAX = 50
HEADLINE_MAX = 70
PROFILE_DESCRIPTION_MAX = 600
SKILLS_MAX = 15
SKILL_MAX = 30
LANGUAGES_MAX = 10

# gigs
TITLE_MIN = 15
TITLE_MAX = 80
TAGS_MAX = 5
TAG_MIN = 2
TAG_MAX = 20
DESCRIPTION_MAX = 1200
DESCRIPTION_MIN_TO_PUBLISH = 120
PACKAGES_MAX = 3
PACKAGE_NAME_MAX = 35
PACKAGE_DESCRIPTION_MAX = 100
PACKAGE_DELIVERY_DAYS_MAX = 90
REVISIONS_MAX = 20
FEATURES_MAX = 10
FEATURE_MAX = 40
EXTRAS_MAX = 10
EXTRA_DAYS_MAX = 30
QUESTIONS_MAX = 10
QUESTION_TEXT_MAX = 400
QUESTION_CHOICES_MAX = 10
QUESTION_CHOICE_MAX = 80
FAQS_MAX = 10
FAQ_QUESTION_MAX = 150
FAQ_ANSWER_MAX = 600
GALLERY_MAX = 8
GALLERY_REF_MAX = 500

# search
SEARCH_TEXT_MAX = 100
SEARCH_TERMS_MAX = 10
SEARCH_LIMIT_MAX = 100
