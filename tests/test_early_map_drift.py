"""``benchmarks.early_map_drift``: a tune's early map against its start's, on hand-made states and crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from train.posenet.model import LandmarkPoseHead


def test_the_start_itself_does_not_drift_and_a_moved_early_layer_does(tmp_path: Path):
    from benchmarks.early_map_drift import crop_batches, map_drift
    from train.pretrained.tflite_graph import early_convs

    g = np.random.default_rng(0)
    for source, n in (("real", 3), ("render", 5)):  # 5 crops of 256 px; the real source has fewer than asked
        np.savez(tmp_path / f"{source}.npz", x=g.integers(0, 256, (n, 256, 256, 3), dtype=np.uint8))
    batches = crop_batches(tmp_path, 4)
    assert {s: tuple(b.shape) for s, b in batches.items()} == {"real": (3, 3, 256, 256), "render": (4, 3, 256, 256)}
    torch.manual_seed(0)
    head = LandmarkPoseHead("blazepose_lite", 17, presence=False)
    own = {k: v.clone() for k, v in head.state_dict().items()}
    last = f"trunk.graph.{early_convs(head.trunk.graph.spec)[-1]}.bias"
    moved = {**own, last: own[last] + 0.5}
    later = {**own, "trunk.world.bias": own["trunk.world.bias"] + 0.5}  # after the map: it does not move it
    drift = map_drift(head, {"same": own, "moved": moved, "later": later}, batches)
    assert drift["same"] == {"real": 0.0, "render": 0.0} and drift["later"] == {"real": 0.0, "render": 0.0}
    assert min(drift["moved"].values()) > 1e-3
    assert all(torch.equal(v, own[k]) for k, v in head.state_dict().items())  # the head back to its own weights
    with pytest.raises(ValueError, match="not a tune of this network"):
        map_drift(head, {"other": {k: v for k, v in own.items() if k != last}}, batches)
