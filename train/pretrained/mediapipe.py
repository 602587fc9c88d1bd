"""MediaPipe BlazePose's landmark network as the pose head's trunk: features of real people to start from.

MediaPipe Pose (Apache-2.0) ships its landmark networks as ``pose_landmark_{lite,full}.tflite`` inside the
PyPI package the teacher installs (``tvstream teacher install``). Each is an encoder-decoder: the image at 256 x
256 down to stride 32 and back up to stride-4 features, read by a 1 x 1 convolution into 39 heatmaps (33
landmarks and 6 auxiliary points). Its trunk (everything before that convolution) is fully convolutional, so
tvstream reads it at its own crop size (a multiple of 32); the heatmaps of the H36M joints start as that
convolution's rows (a joint made of several landmarks, ``tvstream.teacher.mapping``, averages their rows), so a
fresh head already reads MediaPipe's heatmaps. The trunk's structure is committed beside this file
(``blazepose_*.json``, from :func:`write_spec`); its weights come from the ``.tflite`` file at the start of
training (:func:`load_weights`) and then live in tvstream's checkpoints and exported models.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from train.pretrained.tflite_graph import TfliteGraph, read_tflite

TRUNKS = {"blazepose_lite": "pose_landmark_lite.tflite", "blazepose_full": "pose_landmark_full.tflite"}
HEATMAP_TENSOR = "Identity_3"  # the landmark networks' (1, 64, 64, 39) heatmap output
PRESENCE_TENSOR = "Identity_1"  # their (1, 1) pose flag: is a person in the crop (a branch on stride-32 features)
# their landmarks as MediaPipe reads them: regressed by a branch down to a 2 x 2 map at a 256 px input, whose last
# 2 x 2 convolution gives (1, 195) 39 x (x, y, z, visibility, presence) in input pixels (the last two logits),
# and beside it (1, 117) 39 x (x, y, z) world landmarks in metres, the origin between the hips
LANDMARK_TENSOR, WORLD_TENSOR = "Identity", "Identity_4"
LANDMARK_CROP = 256  # the regression branch reads only this input size (its last convolution spans its 2 x 2 map)
NUM_POINTS = 39  # 33 landmarks and 6 auxiliary points
SPEC_DIR = Path(__file__).parent
PATH_ENV = "TVSTREAM_BLAZEPOSE_DIR"  # a folder holding the .tflite files (default: the teacher venv's MediaPipe)


def _split(spec: dict) -> tuple[dict, dict]:
    """The heatmap graph -> (trunk spec: all but the last node, the last node: the heatmap convolution)."""
    *body, last = spec["nodes"]
    if last["op"] != "conv" or last["kernel"] != [1, 1]:
        raise ValueError("the landmark network's heatmaps are not read by a final 1x1 convolution")
    return {"input": spec["input"], "output": last["in"][0], "channels": last["cin"], "nodes": body}, last


def _read_presence(tflite: str | os.PathLike, trunk: dict) -> tuple[dict, dict[str, torch.Tensor]]:
    """The pose-flag branch of ``tflite`` from the one ``trunk`` tensor it reads, up to its logit (N, 1, 1, 1):
    the file's LOGISTIC and RESHAPE are left to the trunk, which trains the logit (a flag saturated at 1.0 has
    no gradient through its sigmoid)."""
    spec, state = read_tflite(tflite, PRESENCE_TENSOR, start_after=[n["out"] for n in trunk["nodes"]])
    *body, sigmoid, flatten = spec["nodes"]
    if (sigmoid["op"], flatten["op"], body[-1]["op"]) != ("sigmoid", "flatten", "conv"):
        raise ValueError(f"{tflite}: the pose flag is not a convolution's sigmoid")
    return {**spec, "output": sigmoid["in"][0], "nodes": body}, state


def _split_regression(spec: dict) -> tuple[dict, dict]:
    """The landmark (or world landmark) graph -> (the network up to the regression branch's last map, the 2 x 2
    convolution that reads it; its flatten dropped)."""
    *body, last, flatten = spec["nodes"]
    if (last["op"], flatten["op"], last["kernel"]) != ("conv", "flatten", [2, 2]):
        raise ValueError("the landmark network's landmarks are not read by a final 2x2 convolution")
    return {"input": spec["input"], "output": last["in"][0], "channels": last["cin"], "nodes": body}, last


def write_spec(name: str, tflite: str | os.PathLike) -> list[Path]:
    """Write the trunk structure of ``name``, its presence branch and its landmark network (the regression
    branch's way), read from ``tflite``, beside this module."""
    spec, _ = read_tflite(tflite, HEATMAP_TENSOR)
    trunk = _split(spec)[0]
    landmarks = _split_regression(read_tflite(tflite, LANDMARK_TENSOR)[0])[0]
    paths = [SPEC_DIR / f"{name}{part}.json" for part in ("", "_presence", "_landmarks")]
    for path, part in zip(paths, (trunk, _read_presence(tflite, trunk)[0], landmarks)):
        path.write_text(json.dumps(part, separators=(",", ":")) + "\n")
    return paths


def trunk_spec(name: str, part: str = "") -> dict:
    """The committed structure of ``name``'s trunk, or with ``part`` "presence" of its pose-flag branch, "landmarks"
    of its landmark network the regression branch's way."""
    if name not in TRUNKS:
        raise ValueError(f"unknown pretrained trunk {name!r} (known: {', '.join(TRUNKS)})")
    return json.loads((SPEC_DIR / f"{name}{'_' + part if part else ''}.json").read_text())


def find_tflite(name: str) -> Path:
    """The ``.tflite`` file of ``name``: in ``$TVSTREAM_BLAZEPOSE_DIR``, else the teacher venv's MediaPipe (fetched
    from npm into it when the wheel lacks it, as the teacher's models are)."""
    from tvstream.errors import TeacherError

    file = TRUNKS[name]
    folder = os.environ.get(PATH_ENV)
    if not folder:  # the wheel holds the full network; the lite one comes from MediaPipe's npm package
        from tvstream.teacher.install import find_teacher_python, install_model

        return install_model(find_teacher_python(), file)
    path = Path(folder) / file
    if not path.is_file():
        raise TeacherError(f"{file} not found in {folder} (${PATH_ENV}); unset it to use the teacher venv's")
    return path


class _BlazePoseNetwork(nn.Module):
    """A part of a landmark network (``trunk_spec(name, part)``) beside its pose-flag branch, if ``presence``: crops
    normalised as tvstream's networks read them -> (its output, the flag's logit (N, 1) or None)."""

    def __init__(self, name: str, part: str, mean: tuple[float, ...], std: tuple[float, ...],
                 presence: bool = False) -> None:
        super().__init__()
        self.name = name
        branch = trunk_spec(name, "presence") if presence else None
        self.graph = TfliteGraph(trunk_spec(name, part), taps=(branch["input"],) if branch else ())
        self.presence = TfliteGraph(branch) if branch else None
        self.channels = self.graph.channels
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def _read(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = x * self.std + self.mean  # MediaPipe's landmark networks read RGB in [0, 1]
        if self.presence is None:
            return self.graph(x), None
        features, tapped = self.graph(x)
        return features, self.presence(tapped).flatten(1)


class BlazePoseTrunk(_BlazePoseNetwork):
    """(N, 3, S, S) crops normalised as tvstream's networks read them -> (N, C, S/4, S/4) stride-4 features and,
    with ``presence``, (N, 1) the logit of the probability that a person is in the crop (else None).

    The presence branch is MediaPipe's pose flag. It is calibrated for 256 px crops: read at 192 px as it comes
    it said 1.0 on every crop, people or none, so a model trains it again on its own crops (``part="confidence"``
    with empty crops; at 256 px MediaPipe's weights give people 0.88-0.97 and person-free crops 0.001-0.03).
    """

    def __init__(self, name: str, mean: tuple[float, ...], std: tuple[float, ...], presence: bool = False) -> None:
        super().__init__(name, "", mean, std, presence)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> features, and the presence logit (N, 1) or None."""
        return self._read(x)


class BlazePoseLandmarks(_BlazePoseNetwork):
    """(N, 3, 256, 256) crops normalised as tvstream's networks read them -> MediaPipe's own reading of them:
    landmarks (N, 39, 5) (x, y, z in input pixels, visibility and presence logits), world landmarks (N, 39, 3)
    (metres, the origin between the hips) and, with ``presence``, the pose flag's logit (N, 1) (else None).

    The whole landmark network the regression branch's way, as MediaPipe runs it (its stride-4 heatmap decoder,
    which :class:`BlazePoseTrunk` reads, is not computed). On real people's boxes it reads them far better than
    the heatmaps (real development set, Full on MediaPipe Heavy's box: PCK@0.2 0.77 against 0.59 by soft-argmax of
    its heatmaps, session 45); it is used as it comes: a trunk trained on rendered people broke it (0.44).
    """

    def __init__(self, name: str, mean: tuple[float, ...], std: tuple[float, ...], presence: bool = False,
                 world: bool = True) -> None:
        super().__init__(name, "landmarks", mean, std, presence)
        self.image = nn.Conv2d(self.channels, NUM_POINTS * 5, 2)
        self.world = nn.Conv2d(self.channels, NUM_POINTS * 3, 2) if world else None

    def forward(self, x: torch.Tensor, features: bool = False) -> tuple[torch.Tensor, ...]:
        """-> landmarks, world landmarks (or, with ``features``, the last (N, C, 2, 2) map both read), flag. A
        network made without ``world`` reads features only."""
        if not torch.jit.is_tracing() and tuple(x.shape[-2:]) != (LANDMARK_CROP, LANDMARK_CROP):
            raise ValueError(f"MediaPipe's landmark regression reads {LANDMARK_CROP} px crops, got {tuple(x.shape)}")
        f, flag = self._read(x)
        points = self.image(f).reshape(x.shape[0], NUM_POINTS, 5)
        return points, (f if features else self.world(f).reshape(x.shape[0], NUM_POINTS, 3)), flag


def load_landmark_weights(trunk: BlazePoseLandmarks,
                          tflite: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Put MediaPipe's weights into ``trunk``: the network, its two last convolutions (landmarks, world
    landmarks; the latter where the trunk has it) and, if it has one, its presence branch. Returns the world
    landmarks' convolution's weight and bias."""
    tflite = tflite or find_tflite(trunk.name)
    spec, state = read_tflite(tflite, LANDMARK_TENSOR)
    body, last = _split_regression(spec)
    if body["nodes"] != trunk.graph.spec["nodes"]:
        raise ValueError(f"{tflite}: not the {trunk.name} landmark network this head was written from")
    trunk.graph.load_tflite_state({k: v for k, v in state.items() if not k.startswith(last["key"] + ".")})
    world_spec, world_state = read_tflite(tflite, WORLD_TENSOR)
    world_last = _split_regression(world_spec)[1]
    world = world_state[f"{world_last['key']}.weight"], world_state[f"{world_last['key']}.bias"]
    with torch.no_grad():
        trunk.image.weight.copy_(state[f"{last['key']}.weight"])
        trunk.image.bias.copy_(state[f"{last['key']}.bias"])
        if trunk.world is not None:
            trunk.world.weight.copy_(world[0])
            trunk.world.bias.copy_(world[1])
    if trunk.presence is not None:
        load_presence(trunk, tflite)
    return world


def heatmap_rows() -> np.ndarray:
    """(17, 33) how each H36M joint's heatmap row starts from MediaPipe's landmark rows: the landmarks its
    ``tvstream.teacher.mapping`` recipe adds, averaged (a recipe's negative terms, the head's reach, dropped)."""
    from tvstream.teacher.mapping import WEIGHTS

    w = np.clip(WEIGHTS, 0.0, None)
    return w / w.sum(1, keepdims=True)


def load_presence(trunk: _BlazePoseNetwork, tflite: str | os.PathLike) -> None:
    """Put MediaPipe's pose-flag weights into ``trunk.presence`` (the branch as read beside the heatmap trunk)."""
    spec, state = _read_presence(tflite, trunk_spec(trunk.name))
    if spec["nodes"] != trunk.presence.spec["nodes"]:
        raise ValueError(f"{tflite}: not the {trunk.name} presence branch this trunk was written from")
    trunk.presence.load_tflite_state(state)


def load_weights(trunk: BlazePoseTrunk, heat: nn.Conv2d, tflite: str | os.PathLike | None = None) -> None:
    """Put MediaPipe's weights into ``trunk`` and its heatmap convolution, mapped to H36M, into ``heat``."""
    spec, state = read_tflite(tflite or find_tflite(trunk.name), HEATMAP_TENSOR)
    body, last = _split(spec)
    if body["nodes"] != trunk.graph.spec["nodes"]:
        raise ValueError(f"{tflite}: not the {trunk.name} network this trunk was written from")
    trunk.graph.load_tflite_state({k: v for k, v in state.items() if not k.startswith(last["key"] + ".")})
    if trunk.presence is not None:
        load_presence(trunk, tflite or find_tflite(trunk.name))
    rows = torch.from_numpy(heatmap_rows())  # (17, 33)
    w, b = state[f"{last['key']}.weight"][:33, :, 0, 0], state[f"{last['key']}.bias"][:33]  # landmarks, not aux
    with torch.no_grad():
        heat.weight.copy_((rows @ w)[:, :, None, None])
        heat.bias.copy_(rows @ b)


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="write the BlazePose trunk structures (blazepose_*.json) from the "
                                             "teacher's MediaPipe .tflite files")
    ap.add_argument("--dir", type=Path, default=None, help=f"folder of the .tflite files (default: ${PATH_ENV} or "
                                                           "the teacher venv)")
    args = ap.parse_args(argv)
    for name, file in TRUNKS.items():
        print(*write_spec(name, args.dir / file if args.dir else find_tflite(name)), sep="\n")


if __name__ == "__main__":
    main()
