import json

import pytest

from tvstream.errors import LabelError
from tvstream.manifest import MANIFEST_SCHEMA, VideoEntry, discover, load_manifest, write_manifest


def test_manifest_round_trips_with_relative_paths(tmp_path):
    (tmp_path / "videos").mkdir()
    entries = [
        VideoEntry(video=tmp_path / "videos" / "a.mp4", labels=tmp_path / "a.npz", subject="s1",
                   sequence="walk", camera="c1", split="test"),
        VideoEntry(video=tmp_path / "videos" / "b.mp4", subject="s2", sequence="run"),
    ]
    write_manifest(tmp_path / "manifest.json", entries)
    doc = json.loads((tmp_path / "manifest.json").read_text())
    assert doc["schema"] == MANIFEST_SCHEMA
    assert doc["videos"][0]["video"] == "videos/a.mp4" and doc["videos"][1]["labels"] is None
    back = load_manifest(tmp_path / "manifest.json")
    assert [e.video.resolve() for e in back] == [e.video.resolve() for e in entries]
    assert (back[0].split, back[0].camera, back[1].split) == ("test", "c1", "train")


def test_folder_without_manifest_finds_videos_and_same_stem_labels(tmp_path):
    (tmp_path / "s9").mkdir()
    for name in ("s9/jump.mp4", "s9/jump.npz", "s9/dive.MOV", "s9/dive.json", "s9/notes.txt", "z.mkv"):
        (tmp_path / name).write_bytes(b"")
    entries = discover(tmp_path)
    assert [e.video.name for e in entries] == ["dive.MOV", "jump.mp4", "z.mkv"]
    assert [e.labels.name if e.labels else None for e in entries] == ["dive.json", "jump.npz", None]
    assert entries[0].subject == "s9" and entries[0].sequence == "dive"


def test_discover_prefers_the_manifest(tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"")
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"schema": MANIFEST_SCHEMA, "videos": [{"video": "x.mp4", "camera": "7", "split": "val"}]}))
    (entry,) = discover(tmp_path)
    assert (entry.camera, entry.split, entry.sequence) == ("7", "val", "x")


@pytest.mark.parametrize("doc, expected", [
    ({"schema": "nope"}, "field 'schema'"),
    ({"schema": MANIFEST_SCHEMA}, "field 'videos' must be a list"),
    ({"schema": MANIFEST_SCHEMA, "videos": [{"labels": "a.npz"}]}, r"videos\[0\].video"),
    ({"schema": MANIFEST_SCHEMA, "videos": [{"video": "a.mp4", "cam": "1"}]}, r"unknown field 'videos\[0\].cam'"),
    ({"schema": MANIFEST_SCHEMA, "videos": [{"video": "a.mp4", "split": "holdout"}]}, "split 'holdout'"),
])
def test_bad_manifest_is_refused_naming_the_field(tmp_path, doc, expected):
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(LabelError, match=expected):
        load_manifest(tmp_path / "manifest.json")


def test_empty_or_missing_dataset_folder_is_an_error(tmp_path):
    with pytest.raises(LabelError, match="no videos found"):
        discover(tmp_path)
    with pytest.raises(LabelError, match="no such dataset folder"):
        discover(tmp_path / "absent")
