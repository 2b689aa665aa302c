"""The real photographs we train and evaluate on, and the fixed split between them.

Sources (nothing is downloaded at run time):
- scikit-image's bundled photos (``skimage.data``);
- Debian's ``mate-backgrounds`` nature photos and the photographs among
  ``plasma-workspace-wallpapers`` and ``lomiri-wallpapers-16.04`` (the rest are drawings),
  unpacked by ``python -m models.prep_data`` into ``data/mate``, ``data/plasma`` and
  ``data/lomiri`` (optional: without them training uses the scikit-image photos alone);
- the photographs among the sample images of Debian's ``opencv-doc`` (streets, buildings, text in
  scenes, an aerial view, indoor objects, animals), unpacked into ``data/opencv``, for the "broad"
  training split.

The Middlebury stereo pairs live in ``models.data.stereo``: motorcycle (evaluation only) and Aloe
(validation only, from opencv-doc). The "broad" split holds aloeL as a photo, so a network trained
on it must not be judged on Aloe.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import skimage.data as skd

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
MAX_SIDE = 900

# scikit-image photos: natural or photographic content only (no synthetic logos, checkerboards).
SKIMAGE_TRAIN = ["astronaut", "brick", "camera", "chelsea", "clock", "coins", "gravel", "grass",
                 "hubble_deep_field", "immunohistochemistry", "moon", "retina", "cell", "text", "page"]
SKIMAGE_HELDOUT = ["coffee", "rocket"]
MATE_TRAIN = ["Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird",
              "RainDrops", "Storm", "TwoWings", "Wood", "Elephants"]
MATE_HELDOUT = ["YellowFlower"]
# training only (the "wide" split); the evaluation sets stay as they were
PLASMA_TRAIN = ["BytheWater", "ColdRipple", "ColorfulCups", "EveningGlow", "FallenLeaf", "Grey",
                "OneStandsOut", "Path"]
# training only (the "dense" split): photographs among opencv-doc's sample images. Drawings,
# paintings, charts and calibration boards left out, and so are both views of every image pair:
# graf, box, aero and the calibration pairs judge the product, and the others validate it
OPENCV_TRAIN = ["building", "baboon", "fruits", "ela_original", "messi5", "squirrel_cls", "home", "board",
                "plant", "scenetext01", "scenetext02", "scenetext03", "scenetext04", "scenetext05",
                "scenetext06", "scenetext_segmented_word01", "scenetext_segmented_word02", "chicky_512",
                "smarties", "stuff", "robin", "butterfly"]
# never trained, validated or tuned on: they judge the product (``eval/``)
HELD_BACK = ["graf1", "graf3", "box", "box_in_scene", "aero1", "aero3"]
# validation only: photos that no network trains on and that are not the held-back test photos,
# for choosing between candidate weights by how they generalise to unseen content
LOMIRI_VAL = ["Wine_by_Jakkub_Mede", "friends_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi",
              "Dragonfly_by_Bolly", "Picture_1A_by_freespace", "seeding_by_Clements_Engelhardt"]
# every photograph lomiri-wallpapers-16.04 ships (its umang_by_Abhishek_Mudgal is a drawing): the
# validation photos above and the large photos whose regions ``eval.regions`` finds; none is trained on
LOMIRI_PHOTOS = LOMIRI_VAL + ["Bridge_by_Sander_Klootwijk", "Picture_0B_by_freespace", "aitzgorri_by_Aitzol_Berasategi",
                              "analogpattern_by_Peter_Nerlich", "free_by_Peter_Nerlich", "greentock_by_Peter_Nerlich",
                              "life_by_Aitzol_Berasategi", "sunset_by_Aitzol_Berasategi"]
# where prep_data unpacks each package's photos, under DATA_DIR
PACKAGE_DIRS = ("mate", "plasma", "lomiri", "opencv")
SUFFIXES = (".jpg", ".png")


def to_grey(img: np.ndarray) -> np.ndarray:
    """Any uint8/bool/float image (H, W[, C]) -> uint8 (H, W), at most MAX_SIDE on its long side."""
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        img = np.clip(img * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2GRAY)
    s = MAX_SIDE / max(img.shape)
    if s < 1:
        img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    return img


def package_path(name: str) -> Path | None:
    """Where ``prep_data`` unpacked the Debian photo ``name``, or None."""
    hits = [p for folder in PACKAGE_DIRS for ext in SUFFIXES for p in sorted((DATA_DIR / folder).rglob(name + ext))]
    return hits[0] if hits else None


def load(name: str) -> np.ndarray:
    """A photo by name, grey uint8 (H, W)."""
    if hasattr(skd, name):
        return to_grey(getattr(skd, name)())
    path = package_path(name)
    if path is None:
        raise FileNotFoundError(f"{name}: run `python -m models.prep_data` to unpack the Debian photos")
    return to_grey(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))


def split(which: str) -> list[str]:
    """Names of the photos in ``train``, ``wide`` (train and the plasma photos: the patch
    networks'), ``dense`` (wide and the opencv photos: the dense network's), ``valphotos``
    (validation on unseen photos) or ``heldout`` that are available on this machine. Held-back
    and validation photos are never in a training list."""
    sk, deb = {"train": (SKIMAGE_TRAIN, MATE_TRAIN), "wide": (SKIMAGE_TRAIN, MATE_TRAIN + PLASMA_TRAIN),
               "dense": (SKIMAGE_TRAIN, MATE_TRAIN + PLASMA_TRAIN + OPENCV_TRAIN),
               "valphotos": ([], LOMIRI_VAL), "heldout": (SKIMAGE_HELDOUT, MATE_HELDOUT)}[which]
    return list(sk) + [m for m in deb if package_path(m) is not None]
