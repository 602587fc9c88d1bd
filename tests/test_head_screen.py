"""``benchmarks.head_screen``'s variants: each names the trunk weights it should, on hand-computed states."""

from __future__ import annotations

import pytest
import torch

from benchmarks.head_screen import variant_state

START = {"trunk.graph.n1.weight": torch.tensor([0.0]), "trunk.graph.n30.weight": torch.tensor([0.0])}
TUNE = {"trunk.graph.n1.weight": torch.tensor([4.0]), "trunk.graph.n30.weight": torch.tensor([8.0])}
MODEL = {"trunk.graph.n1.weight": torch.tensor([2.0]), "trunk.graph.n30.weight": torch.tensor([2.0])}


def _values(state: dict[str, torch.Tensor]) -> list[float]:
    return [float(state[k]) for k in sorted(state)]


def test_each_variant_is_the_blend_it_names():
    assert variant_state("model", TUNE, MODEL) is MODEL and variant_state("tune", TUNE, MODEL) is TUNE
    assert _values(variant_state("blend:0.25", TUNE, MODEL, START)) == [1.0, 2.0]  # a quarter of the tune's change
    early = variant_state("early:0.5", TUNE, MODEL, START, early=("trunk.graph.n1.",))
    assert _values(early) == [2.0, 8.0]  # n1 halfway, n30 the tune's
    assert _values(variant_state("soup:0.5", TUNE, MODEL)) == [3.0, 5.0]  # halfway from the model to the tune


@pytest.mark.parametrize("spec, message", [("blend", "a variant is"), ("half:0.5", "a variant is"),
                                           ("early:0.5", "needs MediaPipe's network")])
def test_a_variant_it_cannot_make_is_refused(spec: str, message: str):
    with pytest.raises(ValueError, match=message):
        variant_state(spec, TUNE, MODEL)
