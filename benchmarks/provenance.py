"""Where a results file's numbers were measured (this CPU, or what the runs say they trained on), and saving them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tvstream.sysinfo import cpu_model


def machine(described: str = "") -> tuple[dict, str]:
    """(JSON record, header text) of the machine: ``described`` when the runs were measured elsewhere (a GPU
    the cells were copied back from), else this CPU."""
    if described:
        return {"device": described}, described
    record = {"cpu": cpu_model(), "cores": os.cpu_count()}
    return record, f"{record['cpu']} ({record['cores']} cores)"


MACHINE_HELP = "what the runs were measured on, for the header (default: this CPU)"


def save(out: Path, result: dict, markdown: str) -> None:
    """Write ``out``.json (the record) and ``out``.md (the report), making the folder, and print the report."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown)
    print(markdown)
