"""Where a results file's numbers were measured: this CPU, or what the runs say they trained on."""

from __future__ import annotations

import os

from tvstream.sysinfo import cpu_model


def machine(described: str = "") -> tuple[dict, str]:
    """(JSON record, header text) of the machine: ``described`` when the runs were measured elsewhere (a GPU
    the cells were copied back from), else this CPU."""
    if described:
        return {"device": described}, described
    record = {"cpu": cpu_model(), "cores": os.cpu_count()}
    return record, f"{record['cpu']} ({record['cores']} cores)"


MACHINE_HELP = "what the runs were measured on, for the header (default: this CPU)"
