"""The pinned package with real cut-out people and real backgrounds: Debian's ``scratch`` (its media are
CC-BY-SA-3.0, credited to MIT Scratch). Only photographs are used: the package's drawn characters are left out
by name."""

from __future__ import annotations

from pathlib import Path

from train.data.packages import Source, download, extract_folders

SCRATCH = Source("debian", "scratch", "1.4.0.6~dfsg1-6.1",
                 "Media: CC-BY-SA-3.0 (Debian copyright, `Files: Help/* Media/* Projects`), MIT Scratch",
                 sha256="36c582eb93110f64f06c4e685c41e933ccba2fa68db12f79b10bfe840b21fc10")
PEOPLE = "usr/share/scratch/Media/Costumes/People"
BACKGROUNDS = "usr/share/scratch/Media/Backgrounds"
BACKGROUND_FOLDERS = ("Indoors", "Nature", "Outdoors", "Sports")

# the photographs of real people among the package's People costumes (the rest are drawings); the person is the
# prefix (cassy-dancing-1 and cassy-jumping-2 are one person)
CUTOUTS = ("amon1", *(f"anjuli-{i}" for i in range(1, 6)), *(f"anna-{i}" for i in range(1, 4)),
           *(f"breakdancer{i}" for i in range(1, 4)), "calvrett", "calvrett-jumping", "calvrett-thinking",
           "cassy-chillin", *(f"cassy-dancing-{i}" for i in range(1, 5)), "cassy-jumping-1", "cassy-jumping-2",
           "cassy-phone-1", "cassy-sitting-1", "cassy-standing-1", "chamak1", "chamak2",
           *(f"dan{i}" for i in range(1, 7)), "ed", "football-run", "football-stand", "jay", "jodi1", "jodi2",
           "lee-fan", "mako-laughing", "mako-screaming", "mako-stop", "marissa", "marissa-crouching",
           "marissa-sitting", "nathan", "nina1", "paul1", "referee1", "referee2", "ribbon-dancer", "sam",
           "thai-dancer", "thai-dancer2")


def fetch(folder: Path) -> tuple[list[Path], list[Path]]:
    """(cut-out GIFs, background photos) in ``folder/people`` and ``folder/backgrounds``, downloaded (the
    package's sha256 checked) and written out when missing; the package is deleted once they are out."""
    people, backgrounds = folder / "people", folder / "backgrounds"
    wanted = [people / f"{name}.gif" for name in CUTOUTS]
    if not all(p.is_file() for p in wanted) or not any(backgrounds.glob("*")):
        package = download(SCRATCH, folder / "packages")
        extract_folders(package, {PEOPLE: people}, tuple(f"/{name}.gif" for name in CUTOUTS))
        extract_folders(package, {f"{BACKGROUNDS}/{sub}": backgrounds for sub in BACKGROUND_FOLDERS},
                        (".jpg", ".png", ".gif"))
        package.unlink()
    missing = [p.name for p in wanted if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{SCRATCH.spec}: no {', '.join(missing)}")
    return wanted, sorted(backgrounds.iterdir())
