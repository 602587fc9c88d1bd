"""Reading tvstream's versioned JSON documents (manifests, hand labels) with one kind of error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tvstream.errors import LabelError


def read_document(path: Path, kind: str, schema: str) -> dict[str, Any]:
    """The JSON object in ``path`` whose ``"schema"`` field is ``schema``; LabelError otherwise.

    Args:
        kind: what the file is, for messages ("manifest", "hand-label file").
    """
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabelError(f"{path}: no such {kind}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise LabelError(f"{path}: top level must be a JSON object, got {type(doc).__name__}")
    if doc.get("schema") != schema:
        raise LabelError(f"{path}: field 'schema' is {doc.get('schema')!r}, expected {schema!r}")
    return doc
