"""Argument types the jobs share, so every job reads the same inputs the same way and says the same thing
when they are wrong."""
from __future__ import annotations

import argparse
from datetime import date


def iso_date(raw: str) -> date:
    """An argparse type for a YYYY-MM-DD day."""
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {raw!r}") from None
