"""Fetch the extra training photos from Debian packages: mate-backgrounds (all its photos, into
data/mate) and the photographs among plasma-workspace-wallpapers (into data/plasma).

    python -m models.prep_data

Uses ``apt-get download`` (a package registry, not a dataset host); idempotent.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from models.data.photos import DATA_DIR, PLASMA_TRAIN


def unpack(package: str) -> Path:
    """Download and unpack a .deb into a temporary folder; returns the unpacked root."""
    tmp = Path(tempfile.mkdtemp())
    subprocess.run(["apt-get", "download", package], cwd=tmp, check=True)
    deb = next(tmp.glob(f"{package}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "x")], check=True)
    return tmp


def mate() -> None:
    dest = DATA_DIR / "mate"
    if any(dest.rglob("*.jpg")):
        print(f"{dest} already holds the photos")
        return
    tmp = unpack("mate-backgrounds")
    dest.mkdir(parents=True, exist_ok=True)
    for jpg in (tmp / "x/usr/share/backgrounds/mate").rglob("*.jpg"):
        shutil.copy(jpg, dest / jpg.name)
    shutil.rmtree(tmp)
    print(f"unpacked {len(list(dest.glob('*.jpg')))} photos into {dest}")


def plasma() -> None:
    dest = DATA_DIR / "plasma"
    if all((dest / f"{n}.jpg").exists() for n in PLASMA_TRAIN):
        print(f"{dest} already holds the photos")
        return
    tmp = unpack("plasma-workspace-wallpapers")
    dest.mkdir(parents=True, exist_ok=True)
    for name in PLASMA_TRAIN:  # the one size every wallpaper ships in
        shutil.copy(tmp / f"x/usr/share/wallpapers/{name}/contents/images/2560x1600.jpg", dest / f"{name}.jpg")
    shutil.rmtree(tmp)
    print(f"unpacked {len(PLASMA_TRAIN)} photos into {dest}")


def main() -> None:
    mate()
    plasma()


if __name__ == "__main__":
    main()
