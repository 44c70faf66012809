"""The custom menu as data (menu.toml) and its CLICK keys."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

NEW_APPLICATION = "NEW_APPLICATION"
MY_APPLICATIONS = "MY_APPLICATIONS"
FAQ = "FAQ"
HUMAN_AGENT = "HUMAN_AGENT"


def load() -> dict[str, Any]:
    return tomllib.loads((Path(__file__).with_name("menu.toml")).read_text("utf-8"))
