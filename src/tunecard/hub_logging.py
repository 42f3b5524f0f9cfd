"""Quiet the hub client while tunecard turns its failures into one clear error."""

from __future__ import annotations

import contextlib
import logging


@contextlib.contextmanager
def quiet_hub_warnings():
    """Offline, huggingface_hub logs a warning per failed request before raising; the
    TunecardError raised from that exception says it once, with the fix."""
    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
