"""Geometries that rest on edges of one direction (``service.aperture``)."""
import numpy as np

from models.data import pairs, plain
from service import aperture
from service.imaging import Decoded
from tests.conftest import encode, real


def stripes(h=120, w=160) -> np.ndarray:
    img = np.full((h, w), 40, np.uint8)
    img[:, 60:100] = 220  # a bright band: two vertical edges
    return img


def test_spread_is_small_on_edges_of_one_direction_and_large_where_they_run_every_way():
    rng = np.random.default_rng(0)
    on_edges = np.c_[rng.choice([60, 99], 50), rng.uniform(10, 110, 50)]
    assert aperture.spread(Decoded(stripes(), 160, 120), on_edges) < 0.01
    texture = (rng.uniform(0, 255, (120, 160))).astype(np.uint8)
    assert aperture.spread(Decoded(texture, 160, 120), on_edges) > 0.5
    band = stripes()
    band[50:70] = 220  # a crossing band: edges both ways
    crossing = np.r_[on_edges, np.c_[rng.uniform(10, 150, 50), rng.choice([50, 69], 50)]]
    assert aperture.spread(Decoded(band, 160, 120), crossing) > 0.5


def test_spread_reads_the_sent_images_pixels_where_the_decoded_one_is_smaller():
    small = np.full((60, 80), 40, np.uint8)
    small[:, 30:50] = 220  # the band at 60-99 of the sent image's 160 columns
    small[:, 55:] = np.random.default_rng(1).uniform(0, 255, (60, 25))  # read unmapped, 60 and 99 fall here
    on_edges = np.c_[np.repeat([60.0, 99.0], 20), np.tile(np.linspace(10, 110, 20), 2)]
    assert aperture.spread(Decoded(small, 160, 120), on_edges) < 0.05


def dense(client, pair) -> dict:
    r = client.post("/v1/correspondences", data={"method": "dense", "geometry": "auto"},
                    files={"image_a": ("a.png", encode(pair.a)), "image_b": ("b.png", encode(pair.b))})
    assert r.status_code == 200
    return r.json()


def test_a_strip_slid_along_its_edges_is_warned_of(client):
    """ViSP's white strip, two still frames cut a known offset apart: the dense matches on its two
    long edges slide along them, and RANSAC verifies the slide (no match within 5 px)."""
    body = dense(client, real(lambda: plain.load("plain-line-3-4")))
    assert body["geometry"] is not None
    assert any("edges that run one way" in w for w in body["warnings"])


def test_a_textured_pair_is_not_warned_of_its_edges(client):
    body = dense(client, real(lambda: pairs.zoomed(pairs.load("text"), 2.83)))  # the least spread measured
    assert body["geometry"] == "homography"
    assert not any("edges that run one way" in w for w in body["warnings"])


def test_a_blank_image_has_no_edges_to_slide_along():
    assert aperture.spread(Decoded(np.full((60, 80), 90, np.uint8), 80, 60), np.array([[10.0, 10], [40, 30]])) == 1.0
