"""The README's pictures, drawn by the service itself (``render=png``) on a real validation pair:
frame 0 and frame 79 of ViSP's hand-held "cube" sequence, the second at half scale and turned a
quarter (correspondences, transfer), and the same pair as it is (alignment).

    python -m eval.pictures          # writes docs/images/*.png
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import httpx
import numpy as np

from eval.latency import serve
from models.data import pairs

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def main() -> None:
    base = pairs.load("cube-79")
    hard = pairs.rotated(pairs.zoomed(base, 0.5), 90)
    OUT.mkdir(parents=True, exist_ok=True)
    proc, url = serve({"PATH": os.environ.get("PATH", "")})
    try:
        with httpx.Client(base_url=url, timeout=300) as c:
            files = {"image_a": ("a.png", png(hard.a)), "image_b": ("b.png", png(hard.b))}
            shots = {
                "matches.png": ("/v1/correspondences", files, {"geometry": "homography", "max_matches": "80"}),
                "transfer.png": ("/v1/keypoints/transfer", files, {"keypoints": json.dumps(
                    [[200, 150], [300, 90], [120, 110], [250, 200], [330, 60], [170, 40]])}),
                "alignment.png": ("/v1/align", {"image_a": ("a.png", png(base.a)),
                                                "image_b": ("b.png", png(base.b))}, {}),
            }
            for name, (path, sent, data) in shots.items():
                r = c.post(path, files=sent, data=data | {"render": "png"})
                r.raise_for_status()
                (OUT / name).write_bytes(r.content)
                print(f"{OUT / name}: {', '.join(f'{k[2:]} {v}' for k, v in r.headers.items() if k.startswith('x-'))}")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
