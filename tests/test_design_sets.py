"""The design sets' clips (benchmarks/design_sets.py): each shard's first clips, the ones the tune leaves out."""

from pathlib import Path

import pytest

from benchmarks.design_sets import design_groups
from tvstream.errors import LabelError
from tvstream.manifest import VideoEntry, write_manifest


def shard(root: Path, name: str, clips: int, unlabeled: tuple[int, ...] = ()) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    entries = []
    for i in range(clips):
        video = folder / f"c{i}.mp4"
        video.write_bytes(b"")
        labels = None if i in unlabeled else folder / f"c{i}.npz"
        if labels is not None:
            labels.write_bytes(b"")
        entries.append(VideoEntry(video=video, labels=labels))
    write_manifest(folder / "manifest.json", entries)
    return folder


def test_each_shard_gives_its_first_labeled_clips_and_a_shard_folder_is_one(tmp_path):
    shard(tmp_path / "world", "ski_2", 9, unlabeled=(1,))
    shard(tmp_path / "world", "dive_0", 4)
    one = shard(tmp_path / "other", "varied_0", 8)
    groups = design_groups([tmp_path / "world", one], clips=6)
    assert list(groups) == ["dive_0", "ski_2", "varied_0"]
    assert [v.name for v, _ in groups["ski_2"]] == ["c0.mp4", "c2.mp4", "c3.mp4", "c4.mp4", "c5.mp4", "c6.mp4"] and \
        all(lab.suffix == ".npz" for _, lab in groups["ski_2"])
    assert len(groups["dive_0"]) == 4 and len(groups["varied_0"]) == 6


def test_a_folder_without_shards_and_two_shards_of_one_name_are_refused(tmp_path):
    shard(tmp_path / "a", "ski_2", 2)
    shard(tmp_path / "b", "ski_2", 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabelError, match="no manifest.json"):
        design_groups([tmp_path / "empty"])
    with pytest.raises(LabelError, match="two design shards named ski_2"):
        design_groups([tmp_path / "a", tmp_path / "b"])
