"""The example pairs that the ``image-matching-models`` package ships (its source distribution's
imm/assets/example_pairs, from the Python package index; ``python -m models.prep_data --opencv``
unpacks them into data/heldback/imm). Photos none of our sets holds: two different cathedrals
(a trap), a painting in a photo of the chapel ceiling it parodies, an indoor and an outdoor scene seen
near and far, a city from orbit and on a satellite map, a thermal and a visible camera, two
spherical panoramas. Held back: nothing trains, validates or is tuned on them; they judge
``/v1/correspondences`` (``eval.imm``).

Truth, where we could establish it (``python -m models.data.imm --establish`` fits it from OpenCV
SIFT alone, writes ``imm.json`` and an overlay of each pair to check by eye): a homography for the
painting, the city seen from orbit and the basilica (far enough for its front to hold one: 317 SIFT
inliers at 2 px; none for the terrace in front of it). ``SCENE`` says what each pair is.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from models.data.pairs import HELD_DIR, Pair, checkerboard, fit, of_homography, sift_matches
from models.data.synth import homography_map

IMM_DIR = HELD_DIR / "imm"
IMM = "image-matching-models==1.1.0"  # the source distribution whose imm/assets/example_pairs holds them
TABLE = Path(__file__).with_name("imm.json")
# name -> (its folder in example_pairs, image a, image b)
FILES = {"cathedrals": ("false_positive", "chartres.jpg", "notre_dame.jpg"),
         "fresco": ("fresco", "fsm.jpg", "sist_chapel.jpg"),
         "concourse": ("indoor", "gcs_close.jpg", "gcs_far.jpg"),
         "basilica": ("outdoor", "montmartre_close.jpg", "montmartre_far.jpg"),
         "orbit": ("sat2iss", "photo_from_iss.jpg", "satellite_img.jpg"),
         "thermal": ("thermal", "thermal.jpg", "visible.jpg"),
         "panoramas": ("sphereglue", "barbershop-00000000.jpg", "barbershop-00000001.jpg")}
# what each pair shows, and the geometry established for it ("" where none could be)
SCENE = {"cathedrals": ("two different cathedrals: no geometry is right", ""),
         "fresco": ("a parody of a fresco, in a photo of the ceiling that holds it at a quarter of the size",
                    "homography"),
         "concourse": ("a station's hall, crowded and near, empty and far, another wall in view", ""),
         "basilica": ("a basilica seen near and far, in other light", "homography"),
         "orbit": ("a city photographed from orbit and on a satellite map, turned", "homography"),
         "thermal": ("a thermal and a visible camera's views of one building", ""),
         "panoramas": ("two spherical panoramas of one room (7070 x 3535)", "")}


def paths(name: str, folder: Path = IMM_DIR) -> tuple[Path, Path]:
    _, a, b = FILES[name]
    return folder / a, folder / b


def load(name: str, folder: Path = IMM_DIR) -> tuple[bytes, bytes]:
    """Pair ``name``'s two files' bytes, as a user would send them."""
    pa, pb = paths(name, folder)
    if not pa.exists() or not pb.exists():
        raise FileNotFoundError(f"{pa.parent}: run `python -m models.prep_data --opencv` to unpack the pairs")
    return pa.read_bytes(), pb.read_bytes()


def grey(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)


def available(folder: Path = IMM_DIR) -> bool:
    return all(p.exists() for name in FILES for p in paths(name, folder))


def truth() -> dict[str, np.ndarray]:
    """The established homographies: name -> 3 x 3, image a's pixels -> b's."""
    return {name: np.array(m) for name, m in json.loads(TABLE.read_text()).items()}


def held(name: str, h: np.ndarray) -> np.ndarray:
    """The convex hull (K, 1, 2) float32 in a of OpenCV SIFT's ratio-tested matches that the
    homography ``h`` takes within 3 px: where it is known to hold (not the basilica's terrace)."""
    a, b = (grey(d) for d in load(name))
    xa, xb = sift_matches(a, b)
    there = homography_map(h, b.shape)(xa)[0]
    return cv2.convexHull(xa[np.linalg.norm(there - xb, axis=1) < 3].astype(np.float32))


def inside(hull: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(K,) bool: the points xy (K, 2) inside ``hull`` or on its edge."""
    return np.array([cv2.pointPolygonTest(hull, (float(x), float(y)), False) >= 0 for x, y in xy], bool)


def pair(name: str) -> Pair:
    """An established pair as ``models.data.pairs`` has them, grey, its truth the homography inside
    ``held``'s hull and unknown (NaN) outside it."""
    h = truth()[name]
    a, b = (grey(d) for d in load(name))
    hull, plane = held(name, h), of_homography(name, a, b, h).point_map

    def apply(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out, jac, ok = plane(xy)
        known = inside(hull, xy)
        return np.where(known[:, None], out, np.nan), jac, ok & known
    return Pair(name, a, b, apply, h)


def establish(overlays: Path) -> dict[str, list]:
    """Fit each plane's homography from SIFT (``pairs.fit``) and write an overlay to check it by
    eye: a checkerboard of b and a brought onto it."""
    overlays.mkdir(parents=True, exist_ok=True)
    table = {}
    for name, (_, kind) in SCENE.items():
        if kind != "homography":
            continue
        a, b = (grey(d) for d in load(name))
        h, n = fit(a, b, fit(a, b)[0])
        table[name] = (h / h[2, 2]).round(10).tolist()
        cv2.imwrite(str(overlays / f"{name}.png"), checkerboard(a, b, h))
        print(f"{name}: a homography on {n} SIFT inliers; overlay {overlays / name}.png")
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--establish", action="store_true", help="fit the geometries and write imm.json")
    ap.add_argument("--overlays", type=Path, default=Path("/tmp/imm"))
    args = ap.parse_args()
    if args.establish:
        TABLE.write_text(json.dumps(establish(args.overlays), indent=1) + "\n")


if __name__ == "__main__":
    main()
