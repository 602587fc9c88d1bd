"""Export a trained model to one ONNX graph: uint8 frames -> box, pose3d, pose2d (and optionally mask).

The graph is the whole per-frame path of DESIGN §4: normalise -> detector on the downsampled frame ->
affine crop from the full working-resolution frame (grid built with plain tensor math, GridSample at
opset >= 16) -> encoder ``tv`` -> regressor -> outputs in source units (pixels of the input frame, mm).
The legacy TorchScript exporter is used with a dynamic batch axis: the dynamo exporter froze the batch
size here (it ran at batch 1 and failed at 8). torch, onnx and the training code are imported only here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from engines.conditional_detector import detect_only_when_needed
from engines.weight_storage import EMBEDDED_MAX_BYTES, INT8_ORDER, store_half, store_int8
from engines.metadata import INPUT_NAME, OUTPUTS, TRACK_INPUT, ModelMetadata
from engines.posenet_graph import build_finder_graph, build_posenet_graph, export_posenet, weights_hash
from tvstream.errors import CheckpointError

OPSET = 17


def build_inference_graph(ssl_state: dict[str, Any], regressor_state: dict[str, Any] | None = None,
                          with_mask: bool = False, card: dict[str, Any] | None = None):
    """The exportable ``torch.nn.Module`` from an SSL checkpoint (and a pose regressor, random if None).

    ``card``: what the model's metadata should say about how it was made and scored (test metrics).
    Returns ``(graph, metadata)``.
    """
    import torch
    from torch import nn

    from train.models.config import ModelConfig
    from train.models.spatial import crop
    from train.models.ssl_model import SSLModel
    from train.pose.regressors import PoseRegressor, RegressorConfig

    mcfg = ModelConfig.from_dict(ssl_state["extra"]["model_config"])
    if not mcfg.use_stn:
        raise CheckpointError("exporting needs a model with a detector (an STN variant)")
    ssl = SSLModel(mcfg)
    ssl.load_state_dict(ssl_state["model"])
    if regressor_state is None:  # a seeded random regressor of the pose issue's shape (engine tests, demos)
        reg_cfg = RegressorConfig(in_dim=mcfg.latent_dim, hidden=256, layers=2, dropout=0.0)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            regressor = PoseRegressor(reg_cfg)
        stats, trained = None, False
    else:
        finetuned = regressor_state.get("ssl_model")
        if finetuned is not None:  # fine-tuned end to end: its detector/encoder replace the checkpoint's
            ssl.load_state_dict(finetuned)
        elif regressor_state.get("pose_config", {}).get("init", "ssl") != "ssl":
            raise CheckpointError("this regressor was trained on random features (init=random), not on this "
                                  "checkpoint's: it is a baseline, not an exportable model")
        reg_cfg = RegressorConfig(**regressor_state["config"])
        if reg_cfg.in_dim != mcfg.latent_dim:
            raise CheckpointError(f"the regressor reads {reg_cfg.in_dim} features, the checkpoint gives "
                                  f"{mcfg.latent_dim}: it was trained on another model")
        regressor = PoseRegressor(reg_cfg)
        regressor.load_state_dict(regressor_state["model"])
        stats, trained = regressor_state.get("stats"), bool(regressor_state.get("trained", True))
    k = reg_cfg.joints

    class InferenceGraph(nn.Module):
        """frames (N, H, W, 3) uint8 -> box (N, 4) px, pose3d (N, K, 3) mm, pose2d (N, K, 2) px [, mask]."""

        def __init__(self) -> None:
            super().__init__()
            self.ssl, self.regressor = ssl.eval(), regressor.eval()
            s = stats or {}
            self.register_buffer("mean3", torch.as_tensor(s.get("mean3", np.zeros((k, 3))), dtype=torch.float32))
            self.register_buffer("std3", torch.as_tensor(s.get("std3", np.full((k, 3), 100.0)), dtype=torch.float32))
            self.register_buffer("mean2", torch.as_tensor(s.get("mean2", np.zeros((k, 2))), dtype=torch.float32))
            self.register_buffer("std2", torch.as_tensor(s.get("std2", np.full((k, 2), 0.5)), dtype=torch.float32))
            h, w = mcfg.frame_size
            self.register_buffer("half_size", torch.tensor([w / 2.0, h / 2.0]))  # (W/2, H/2)

        def forward(self, frames: torch.Tensor):
            x = frames.permute(0, 3, 1, 2).float() / 255.0  # (N, 3, H, W) in [0, 1]
            tv, scale, centre, _ = self.ssl.features(x)
            p3, p2 = self.regressor(tv)
            pose3d = p3 * self.std3 + self.mean3  # (N, K, 3) mm, root-relative
            crop_xy = p2 * self.std2 + self.mean2  # (N, K, 2) crop coordinates
            frame_xy = centre[:, None, :] + scale[:, None, :] * crop_xy  # normalised frame coordinates
            pose2d = (frame_xy + 1) * self.half_size - 0.5  # pixel centres at integers
            box = torch.cat([(centre - scale + 1) * self.half_size, (centre + scale + 1) * self.half_size], dim=1)
            outputs = [box, pose3d, pose2d]
            if with_mask:
                outputs.append(self._mask(x, scale, centre, tv))
            return tuple(outputs)

        def _mask(self, x, scale, centre, tv):
            from train.models.spatial import paste

            ti = None
            if self.ssl.cfg.split:
                ti = self.ssl.encoder(self.ssl._norm(crop(x, scale, centre, mcfg.crop_size)))[1]
            rgb, logit = self.ssl.decoder(tv, ti)
            return paste(rgb, logit, scale, centre, mcfg.detector_size)[1]  # (N, 1, h, w)

    graph = InferenceGraph().eval()
    meta = ModelMetadata(input_size=tuple(mcfg.frame_size), outputs=OUTPUTS + (("mask",) if with_mask else ()),
                         model_hash=weights_hash(graph), trained=trained,
                         config={"ssl": ssl_state["config"], "model": mcfg.to_dict(),
                                 "regressor": reg_cfg.__dict__, **({"card": card} if card else {})})
    return graph, meta


def store_weights(model, int8: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Store a pose network's large weights as float16, those under the prefixes ``int8`` as int8 (None: the
    fewest of ``INT8_ORDER`` that bring the file under the embedded model's limit, none where the float16 file
    fits; a Full landmark network beside the person detector takes both); the prefixes stored as int8
    (``engines.weight_storage``)."""
    import onnx

    if int8 is None:
        for n in range(len(INT8_ORDER) + 1):
            trial = onnx.ModelProto()
            trial.CopyFrom(model)
            store_int8(trial, INT8_ORDER[:n])
            store_half(trial)
            if trial.ByteSize() <= EMBEDDED_MAX_BYTES:
                break
        int8 = INT8_ORDER[:n]
    if int8:
        store_int8(model, tuple(int8))
    store_half(model)
    return tuple(int8)


def _stamp_and_save(model, meta: ModelMetadata, tmp: Path, out: Path) -> None:
    """Write ``meta`` into ``model``'s metadata, check it, save it to ``tmp`` and rename it to ``out``."""
    import onnx

    for key, value in meta.to_props().items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp))
    os.replace(tmp, out)


def export_onnx(checkpoint: str | os.PathLike, out: str | os.PathLike, regressor: str | os.PathLike | None = None,
                with_mask: bool = False, card: dict[str, Any] | None = None,
                int8: tuple[str, ...] | None = None) -> ModelMetadata:
    """Export ``checkpoint`` (an SSL run's ``last.pt``) to ``out`` (.onnx), plus a ``.pt`` twin for the torch backend.

    A pose network's large weights are stored as float16, and those under the prefixes ``int8`` as int8 (None: the
    checkpoint's own choice, ``config["export"]["int8"]``, else what the file needs to stay under the embedded
    model's limit; :func:`store_weights`), all computed in float32; its person detector, if any, runs only on
    frames the runtime does not track (``engines.conditional_detector``).

    Both files are written through temp names and renamed, so a failed export leaves nothing behind.
    """
    import onnx
    import torch

    from train.checkpoint import atomic_save, load_checkpoint

    ssl_state = load_checkpoint(checkpoint)
    posenet = ssl_state["config"].get("kind") == "posenet"
    if posenet:
        if regressor is not None or with_mask:
            raise CheckpointError(f"{checkpoint}: a pose-network checkpoint has its own heads (no regressor, no mask)")
        graph, meta = build_posenet_graph(ssl_state, card)
        reg_state = None
    else:
        reg_state = torch.load(regressor, map_location="cpu", weights_only=True) if regressor else None
        graph, meta = build_inference_graph(ssl_state, reg_state, with_mask, card)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    h, w = meta.input_size
    names = list(meta.outputs)
    tmp = out.with_name(out.name + ".tmp")
    try:
        if posenet:
            export_posenet(graph, meta, str(tmp), OPSET)
        else:
            torch.onnx.export(graph, (torch.zeros(2, h, w, 3, dtype=torch.uint8),), str(tmp), input_names=[INPUT_NAME],
                              output_names=names, dynamic_axes={INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in names}},
                              opset_version=OPSET, dynamo=False)
        model = onnx.load(str(tmp))
        if posenet:  # half the file (the default model holds two networks of MediaPipe's, float16 at the source)
            chosen = ssl_state["config"].get("export", {}).get("int8")
            store_weights(model, int8 if int8 is not None or chosen is None else tuple(chosen))
            detect_only_when_needed(model)  # a person detector runs on the frames without a crop to follow
        _stamp_and_save(model, meta, tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    pt = out.with_suffix(".pt")
    weights_only = {k: v for k, v in ssl_state.items() if k not in ("optimizer", "scaler", "rng")}
    if posenet:
        atomic_save({"posenet": weights_only, "card": card}, pt)
    else:
        atomic_save({"ssl": weights_only, "regressor": reg_state, "with_mask": with_mask}, pt)
    return meta


def export_finder(checkpoint: str | os.PathLike, out: str | os.PathLike) -> ModelMetadata:
    """Export the person finder of ``checkpoint`` (a square-view pose network's ``last.pt``;
    ``engines.posenet_graph.build_finder_graph``) to ``out`` (.onnx, weights float16), through a temp name."""
    import onnx

    from train.checkpoint import load_checkpoint

    graph, meta = build_finder_graph(load_checkpoint(checkpoint))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        export_posenet(graph, meta, str(tmp), OPSET)
        model = onnx.load(str(tmp))
        store_half(model)
        _stamp_and_save(model, meta, tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return meta


def write_triton_repository(onnx_path: str | os.PathLike, repo: str | os.PathLike, meta: ModelMetadata,
                            name: str = "tvstream", max_batch: int = 8) -> Path:
    """A Triton model repository (``repo/name/1/model.onnx`` + ``config.pbtxt``) serving many cameras."""
    import shutil

    repo = Path(repo)
    version = repo / name / "1"
    version.mkdir(parents=True, exist_ok=True)
    shutil.copy(onnx_path, version / "model.onnx")
    h, w = meta.input_size
    k = len(meta.joints)
    dims = {"box": [4], "pose3d": [k, 3], "pose2d": [k, 2], "mask": [1, -1, -1], "conf": [k], "detections": [3, -1, -1],
            "person": [5]}
    outputs = ",\n".join(f'  {{ name: "{o}" data_type: TYPE_FP32 dims: {dims[o]} }}' for o in meta.outputs)
    (repo / name / "config.pbtxt").write_text(
        f'name: "{name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: {max_batch}\n'
        f'input [\n  {{ name: "{INPUT_NAME}" data_type: TYPE_UINT8 dims: [{h}, {w}, 3] }}'
        + (f',\n  {{ name: "{TRACK_INPUT}" data_type: TYPE_FP32 dims: [{meta.track_columns}] }}' if TRACK_INPUT in meta.inputs else "")
        + '\n]\n'
        f"output [\n{outputs}\n]\n"
        f"dynamic_batching {{ max_queue_delay_microseconds: 2000 }}\n")
    return repo / name
