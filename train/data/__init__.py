"""Reading video for training: frame sampling, PyAV decoding, memory-mapped frame caches, VideoDataset."""

from train.data.sampling import SamplingConfig
from train.data.video_dataset import VideoDataset

__all__ = ["SamplingConfig", "VideoDataset"]
