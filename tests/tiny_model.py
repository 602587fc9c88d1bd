"""Tiny exported models (random weights, seed 0) for tests that need any model: the runtime, engines, API."""

from pathlib import Path


def export_tiny_model(root: Path, name: str = "tiny.onnx") -> Path:
    """Write ``root/name`` (+ its .pt twin): the tiny preset's whole per-frame graph, 64x64 input."""
    import torch

    from engines.export import export_onnx
    from train.checkpoint import save_checkpoint
    from train.models.config import MODEL_PRESETS
    from train.models.ssl_model import SSLModel

    torch.manual_seed(0)
    cfg = MODEL_PRESETS["tiny"]
    ckpt = save_checkpoint(root / "last.pt", config={"variant": "Ours"}, step=1, model=SSLModel(cfg),
                           extra={"model_config": cfg.to_dict()})
    export_onnx(ckpt, root / name)
    return root / name


def export_tiny_posenet(root: Path, name: str = "tiny_posenet.onnx") -> Path:
    """Write ``root/name`` (+ its .pt twin): a tiny pose network (inputs frames + track, outputs with conf), 72x128."""
    import torch

    from engines.export import export_onnx
    from train.checkpoint import save_checkpoint
    from train.posenet.config import SIZES
    from train.posenet.model import PoseNet

    torch.manual_seed(0)
    cfg = SIZES["tiny"]
    ckpt = save_checkpoint(root / "posenet.pt", config={"kind": "posenet", "model": cfg.to_dict(), "fit": {}},
                           step=1, model=PoseNet(cfg))
    export_onnx(ckpt, root / name)
    return root / name
