"""``python -m finetune``."""

from __future__ import annotations

import sys

from finetune.cli import main

sys.exit(main())
