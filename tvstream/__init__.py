"""tvstream: streaming 3D human pose from video, learned from the venue's own unlabeled footage.

This package is the product a user runs (CLI, sources, pipeline, sinks) plus the torch-free vocabulary
shared with ``train``: the skeleton, the label and manifest formats and the output schema. Importing it
never imports torch.
"""

from tvstream.api import stream
from tvstream.errors import BackendError, CheckpointError, LabelError, SourceError, TvstreamError
from tvstream.skeleton import H36M_17, JOINT_NAMES, NUM_JOINTS, Skeleton

__version__ = "0.1.0"

__all__ = [
    "BackendError", "CheckpointError", "LabelError", "SourceError", "TvstreamError",
    "H36M_17", "JOINT_NAMES", "NUM_JOINTS", "Skeleton", "__version__", "stream",
]
