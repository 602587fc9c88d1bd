"""The JSON Lines output format (``tvstream.pose/1``) as a JSON Schema shipped inside the package."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

POSE_SCHEMA_ID = "tvstream.pose/1"
LINE_TYPES = ("header", "pose", "end")


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files("tvstream").joinpath("schema/pose.schema.json").read_text()


def output_schema() -> dict[str, Any]:
    """The JSON Schema every output line validates against (a fresh dict each call)."""
    return json.loads(_schema_text())
