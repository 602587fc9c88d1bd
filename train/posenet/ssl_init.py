"""Start a pose head's trunk from a self-supervised encoder (the paper's pretraining on unlabeled video).

``tvstream train ssl`` learns a ResNet18 encoder from unlabeled footage alone (reconstruction, DSL; paper S.1);
the pose network's ``resnet`` head trunk is the same ResNet18's stem and first three stages
(``train.posenet.model._Stride16``). :func:`load_ssl_trunk` copies those weights, so a supervised run on few
labels starts from what the footage taught instead of from random weights (``FitConfig.init_trunk``;
``benchmarks/ssl_labels.py`` measures whether that helps at 1%, 10% and 100% of the labels).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from train.posenet.model import STD, PoseHead, PretrainedPoseHead
from tvstream.errors import CheckpointError

# the head trunk's parts -> the SSL encoder trunk's (train.models.backbone.ResNetTrunk)
TRUNK_PARTS = {"stem": "stem", "s1": "stages.0", "s2": "stages.1", "s3": "stages.2"}


def load_ssl_trunk(head: nn.Module, checkpoint: str | Path) -> int:
    """Copy the encoder trunk of the SSL run ``checkpoint`` (a ``last.pt`` or its folder) into ``head``'s trunk;
    returns the number of tensors copied. A clear error when ``head`` is not a ``resnet`` head or the encoder is
    another depth or width.

    The encoder learnt on images normalised by ImageNet's statistics, the pose network normalises by its own
    (``train.posenet.model.MEAN``, ``STD``): the first convolution's weights are scaled per input channel by the
    ratio of the two scales, so it sees the same contrast; the offset is a constant per channel, which the batch
    norm after it takes out."""
    from train.models.ssl_model import IMAGENET_STD
    from train.pose.features import load_ssl_model  # the SSL model's classes: only when asked for

    path = Path(checkpoint)
    path = path / "last.pt" if path.is_dir() else path
    if not isinstance(head, PoseHead) or isinstance(head, PretrainedPoseHead):
        raise CheckpointError("init_trunk needs a pose head on the resnet trunk (head_trunk 'resnet')")
    try:
        ssl_model, state = load_ssl_model(path)
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: not a self-supervised (tvstream train ssl) checkpoint") from err
    encoder = ssl_model.encoder.trunk
    mine = {f"{part}.{k}": v for part, theirs in TRUNK_PARTS.items()
            for k, v in encoder.get_submodule(theirs).state_dict().items()}
    scale = torch.tensor(STD) / torch.tensor(IMAGENET_STD)  # x_ssl = scale * x_pose + offset, per channel
    mine["stem.0.weight"] = mine["stem.0.weight"] * scale.view(1, 3, 1, 1)
    try:
        head.trunk.load_state_dict(mine)
    except RuntimeError as err:  # shapes: another width or depth
        cfg = state["extra"]["model_config"]
        raise CheckpointError(f"{path}: its encoder (ResNet{cfg['encoder_depth']}, width {cfg['encoder_width']}) "
                              f"does not fit this pose head's trunk ({head.trunk.out8 // 2} wide)") from err
    return len(mine)
