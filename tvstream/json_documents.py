"""Reading tvstream's JSON files (manifests, hand labels, camera files) with one kind of error per file kind, and
writing text files whole or not at all."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tvstream.errors import LabelError, TvstreamError


def read_json_object(path: Path, kind: str, error: type[TvstreamError] = LabelError) -> dict[str, Any]:
    """The JSON object in ``path``; ``error`` (a :class:`TvstreamError` class) naming the file otherwise.

    Args:
        kind: what the file is, for messages ("manifest", "camera file").
    """
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise error(f"{path}: no such {kind}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise error(f"{path}: top level must be a JSON object, got {type(doc).__name__}")
    return doc


def read_document(path: Path, kind: str, schema: str) -> dict[str, Any]:
    """The JSON object in ``path`` whose ``"schema"`` field is ``schema``; LabelError otherwise.

    Args:
        kind: what the file is, for messages ("manifest", "hand-label file").
    """
    doc = read_json_object(path, kind)
    if doc.get("schema") != schema:
        raise LabelError(f"{path}: field 'schema' is {doc.get('schema')!r}, expected {schema!r}")
    return doc


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename: a reader (or a run
    stopped half-way) sees the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    """:func:`write_bytes_atomic` of ``text`` (UTF-8)."""
    write_bytes_atomic(path, text.encode())
