"""Where spark-tui keeps its cache and finds user rules and its own data."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "spark-tui"


def cache_dir() -> Path:
    """Metadata cache. SPARK_TUI_CACHE_DIR overrides the platform default."""
    override = os.environ.get("SPARK_TUI_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs  # only when no override: keeps the warm path lean

    return Path(platformdirs.user_cache_dir(APP_NAME))


def config_dir() -> Path:
    """User configuration (user rules live in <config>/rules/*.toml)."""
    override = os.environ.get("SPARK_TUI_CONFIG_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME))


def state_dir() -> Path:
    """Running servers' records and logs. SPARK_TUI_STATE_DIR overrides the platform default."""
    override = os.environ.get("SPARK_TUI_STATE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_state_dir(APP_NAME))


def data_dir() -> Path:
    """The shipped rules/ folder: inside the wheel, or at the repo top in a source checkout."""
    here = Path(__file__).resolve().parent
    installed = here / "_data" / "rules"
    if installed.is_dir():
        return installed
    return here.parent / "rules"
