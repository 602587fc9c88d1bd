"""Feature analysis: the assignment, clustering accuracy and KMeans against known answers; the run analysis."""

import itertools
import json

import numpy as np
import pytest

from train.analysis.clustering import assignment, cluster_accuracy, kmeans


def test_assignment_finds_the_cheapest_matching():
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 5, 6):
        for _ in range(10):
            cost = rng.integers(0, 20, (n, n)).astype(float)
            cols = assignment(cost)
            best = min(sum(cost[i, p[i]] for i in range(n)) for p in itertools.permutations(range(n)))
            assert sorted(cols) == list(range(n)) and cost[np.arange(n), cols].sum() == best


def test_cluster_accuracy_ignores_cluster_names_and_counts_mistakes():
    truth = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    assert cluster_accuracy(np.array([5, 5, 5, 9, 9, 9, 7, 7, 7, 7]), truth) == 1.0
    assert cluster_accuracy(np.array([5, 5, 9, 9, 9, 9, 7, 7, 7, 7]), truth) == 0.9
    assert cluster_accuracy(np.zeros(10, int), truth) == 0.4  # one cluster: the biggest group


def test_kmeans_recovers_separated_blobs():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(m, 0.2, (40, 3)) for m in (0, 4, 8)])
    truth = np.repeat([0, 1, 2], 40)
    assert cluster_accuracy(kmeans(x, 3, seed=1), truth) == 1.0
    with pytest.raises(ValueError):
        kmeans(x, 0)


def test_analysis_of_a_run_writes_accuracies_and_a_swap_grid(clip_dir, tmp_path):
    import torch
    from PIL import Image

    from train.analysis.disentanglement import analyse_run
    from train.checkpoint import save_checkpoint
    from train.models.config import MODEL_PRESETS
    from train.models.ssl_model import SSLModel
    from tvstream.manifest import discover, write_manifest

    entries = discover(clip_dir)
    entries = [e.__class__(**{**e.__dict__, "subject": f"s{i}", "split": "test"}) for i, e in enumerate(entries)]
    write_manifest(tmp_path / "manifest.json", entries)
    torch.manual_seed(0)
    cfg = MODEL_PRESETS["tiny"]
    save_checkpoint(tmp_path / "run" / "last.pt", config={"variant": "Ours", "data": str(tmp_path / "manifest.json")},
                    step=3, model=SSLModel(cfg), extra={"model_config": cfg.to_dict()})
    result = analyse_run(tmp_path / "run", stride=20)
    assert result["subjects"] == 2 and result["frames"] == 15 + 13 and result["chance"] == 0.5
    assert 0.5 <= result["ti_accuracy"] <= 1 and 0.5 <= result["tv_accuracy"] <= 1
    assert json.loads((tmp_path / "run" / "analysis_test.json").read_text()) == result
    assert 0 <= result["ti_share"] <= 1
    grid = Image.open(result["swap_grid"])
    assert grid.size == (2 * 32 * 7, 2 * 32 * 7)  # 6 frames + the header row/column, crops 32 px, shown 2x


def test_ti_share_says_which_half_of_the_latent_shapes_the_decoded_swaps():
    from train.analysis.disentanglement import ti_share

    pose = np.arange(4.0)[:, None, None]  # cell (i, j) = what row i's tv alone decides
    appearance = np.arange(4.0)[None, :, None]  # what column j's ti alone decides
    ones = np.ones((4, 4, 5))
    assert ti_share(pose * ones) == 0.0  # the decoder ignores ti
    assert ti_share(appearance * ones) == 1.0
    assert ti_share((pose + appearance) * ones) == pytest.approx(0.5)
    assert ti_share((pose + 0.5 * appearance) * ones) == pytest.approx(0.2)  # variances: 0.25 against 1
