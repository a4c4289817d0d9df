"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data sets: ``$DP_PIX_DATA``, else ``../shared/data`` next to
    the checkout. Tests that need a set skip when its folder is absent."""
    env = os.environ.get("DP_PIX_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
