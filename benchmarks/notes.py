"""Hand-written findings beside a results file: ``<name>_notes.md`` survives the benchmark's reruns."""

from __future__ import annotations

from pathlib import Path


def hand_notes(results: Path) -> list[str]:
    """Lines of ``<results>_notes.md`` (``results`` without suffix, e.g. ``results/scenarios``), after a blank one."""
    notes = results.with_name(results.name + "_notes.md")
    return ["", notes.read_text().rstrip()] if notes.is_file() else []
