"""``python -m gigmarket_django ...``: Django's ``manage.py`` for the example project."""

from __future__ import annotations

import os
import sys

from django.core.management import execute_from_command_line


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gigmarket_django.settings")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
