"""``python -m gigmarket``: the same as the ``gigmarket`` command."""

from __future__ import annotations

import sys

from gigmarket.admin.cli import main

sys.exit(main())
