"""Fetch the extra training photos: Debian's mate-backgrounds package, unpacked into data/mate.

    python -m models.prep_data

Uses ``apt-get download`` (a package registry, not a dataset host); idempotent.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from models.data.photos import DATA_DIR


def main() -> None:
    dest = DATA_DIR / "mate"
    if any(dest.rglob("*.jpg")):
        print(f"{dest} already holds the photos")
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", "mate-backgrounds"], cwd=tmp, check=True)
        deb = next(Path(tmp).glob("mate-backgrounds_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], check=True)
        dest.mkdir(parents=True, exist_ok=True)
        for jpg in (Path(tmp) / "x/usr/share/backgrounds/mate").rglob("*.jpg"):
            shutil.copy(jpg, dest / jpg.name)
    print(f"unpacked {len(list(dest.glob('*.jpg')))} photos into {dest}")


if __name__ == "__main__":
    main()
