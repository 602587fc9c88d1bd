"""The JSON Lines output format (``tvstream.pose/4``) as a JSON Schema shipped inside the package.

Version 2 added the per-joint ``conf`` of pose lines (models with a confidence output); version 3 the athlete's
``track`` id, the ``root`` position, ``speed`` and ``height`` of pose lines and the header's ``camera``; version 4
adds the ``shot`` of pose lines (one more at each cut between shots).
The schema's description says what changed.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

POSE_SCHEMA_ID = "tvstream.pose/4"
LINE_TYPES = ("header", "pose", "end")


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files("tvstream").joinpath("schema/pose.schema.json").read_text()


def output_schema() -> dict[str, Any]:
    """The JSON Schema every output line validates against (a fresh dict each call)."""
    return json.loads(_schema_text())
