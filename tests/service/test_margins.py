"""Uniform margins before the dense network (``service.margins``), and images of unlike sizes
compared at the scale the dense features see them (``correspond.zoom_of``)."""
import cv2
import numpy as np

from models.data import pairs
from service import dense, imaging, margins
from service.config import Settings
from tests.conftest import encode, real


def framed(img: np.ndarray, top: int, bottom: int, left: int, right: int, grey: int) -> np.ndarray:
    h, w = img.shape
    out = np.full((h + top + bottom, w + left + right), grey, np.uint8)
    out[top: top + h, left: left + w] = img
    return out


def test_margins_are_found_at_each_edge_and_through_jpeg_to_a_block(coffee):
    img = framed(coffee, 10, 30, 0, 50, 255)
    img[:10] = 0  # the top bar black, the others white
    assert margins.margins(img) == (10, 30, 0, 50)
    jpeg = cv2.imdecode(np.frombuffer(encode(img, "JPEG", quality=85), np.uint8), cv2.IMREAD_GRAYSCALE)
    found = np.array(margins.margins(jpeg))
    # JPEG rings within the 8 x 8 block where a bar meets the photo: that block is the photo's
    assert ((found <= [10, 30, 0, 50]) & (found > [2, 22, -1, 42])).all(), found


def test_a_picture_all_one_grey_has_no_margins():
    assert margins.margins(np.full((64, 80), 7, np.uint8)) == (0, 0, 0, 0)


def test_wide_margins_become_noise_of_the_pictures_own_grey_levels(coffee):
    img = framed(coffee, 150, 150, 200, 200, 255)
    out = margins.filled(img)
    inside = np.zeros(img.shape, bool)
    inside[150:-150, 200:-200] = True
    assert np.array_equal(out[inside], img[inside])
    seen, noise = coffee.astype(float), out[~inside].astype(float)
    assert abs(noise.mean() - seen.mean()) < 2 and abs(noise.std() - seen.std()) < 0.05 * seen.std()
    assert np.array_equal(out, margins.filled(img))  # the same image, the same draw
    other = framed(np.ascontiguousarray(coffee[::-1]), 150, 150, 200, 200, 255)
    assert not np.array_equal(margins.filled(other)[~inside], out[~inside])  # another picture, another draw


def test_margins_that_leave_the_pictures_standardisation_alone_are_kept(coffee):
    """A backdrop of about the picture's own grey (a render's grey, a page's paper) is part of the
    scene: kept as it is, as are margins thinner than a feature cell."""
    backdrop = framed(coffee, 40, 40, 60, 60, int(coffee.mean()))
    assert margins.margins(backdrop) == (40, 40, 60, 60)
    assert margins.filled(backdrop) is backdrop
    thin = framed(coffee, 3, 0, 0, 0, 255)
    assert margins.filled(thin) is thin


def test_a_dark_board_with_grain_at_the_edges_is_the_scene(coffee):
    """Columns of a dark board with a faint grain (spread 2.6 grey levels) at both sides of a bright
    picture: uniform within the tolerance and moving its standardisation, but not flat as a drawn
    frame is, so kept; the same columns flat are filled."""
    board = framed(coffee, 0, 0, 150, 150, 30)
    grain = np.random.default_rng(1).uniform(-4.5, 4.5, board.shape)  # spread 2.6
    edges = np.zeros(board.shape, bool)
    edges[:, :150] = edges[:, -150:] = True
    board[edges] = np.clip(30 + grain[edges], 0, 255).astype(np.uint8)
    assert margins.margins(board) == (0, 0, 150, 150)
    assert margins.filled(board) is board
    flat = framed(coffee, 0, 0, 150, 150, 30)
    assert not np.array_equal(margins.filled(flat), flat)


def dense_homography(client, a: np.ndarray, b: np.ndarray) -> tuple[dict, np.ndarray]:
    sent = {"image_a": ("a.png", encode(a), "image/png"), "image_b": ("b.png", encode(b), "image/png")}
    r = client.post("/v1/correspondences", data={"method": "dense", "geometry": "homography"}, files=sent)
    assert r.status_code == 200, r.text
    body = r.json()
    xy_a = np.array([[m["xa"], m["ya"]] for m in body["matches"]], np.float64).reshape(-1, 2)
    xy_b = np.array([[m["xb"], m["yb"]] for m in body["matches"]], np.float64).reshape(-1, 2)
    return body, np.c_[xy_a, xy_b]


def errors(matched: np.ndarray, hom: np.ndarray) -> np.ndarray:
    moved = cv2.perspectiveTransform(matched[:, None, :2], hom).reshape(-1, 2)
    return np.linalg.norm(moved - matched[:, 2:], axis=1)


def test_a_render_sent_in_a_wide_white_frame_is_matched_as_without_it(client):
    """suzanne's b (a grey head on grey) in a white frame a quarter of its size wide on every side.
    The network standardises the whole frame: the white set the render's contrast apart from a's
    and nothing matched; filled with noise of the render's grey levels, it matches as b alone."""
    p = real(lambda: pairs.load("suzanne"))
    shift = np.array([[1.0, 0, 160], [0, 1, 120], [0, 0, 1]])
    body, matched = dense_homography(client, p.a, framed(p.b, 120, 120, 160, 160, 255))
    err = errors(matched, shift @ p.homography)
    assert len(err) >= 1000 and (err < 3).mean() > 0.9, (len(err), (err < 3).mean())


def test_a_cut_of_a_large_image_is_matched_at_the_scale_the_features_see(client, coffee):
    """a: 480 x 360 pixels cut from b, a 1800 x 1200 image, at b's own scale. Each is shrunk to
    DENSE_MAX_SIDE on its own, so their features meet at 1024/1800 apart, though the images
    agree in scale as sent: compared directly they matched nothing right; b's copy brought onto a
    matches a."""
    b = cv2.resize(coffee, (1800, 1200), interpolation=cv2.INTER_CUBIC)
    a = np.ascontiguousarray(b[500:860, 700:1180])
    body, matched = dense_homography(client, a, b)
    err = errors(matched, np.array([[1.0, 0, 700], [0, 1, 500], [0, 0, 1]]))
    assert body["prealigned"] is not None
    assert len(err) >= 1000 and (err < 3).mean() > 0.9, (len(err), (err < 3).mean())


def test_the_sparse_detector_reads_a_large_images_picture_inside_its_frame(coffee):
    """coffee (600 x 400) in a frame that makes it 1800 x 1600: larger than SPARSE_MAX_SIDE, so
    shrunk whole it gave the photo a third of its pixels. Its keypoints, in pixels as sent, are the
    photo's own, moved by the frame's corner."""
    settings = Settings()
    whole = framed(coffee, 600, 600, 600, 600, 0)
    assert max(whole.shape) > settings.sparse_max_side
    alone = dense.find_points(imaging.Decoded(coffee, 600, 400), settings)
    inside = dense.find_points(imaging.Decoded(whole, 1800, 1600), settings)
    assert len(alone.xy) > 100 and np.array_equal(inside.xy, alone.xy)
    assert np.array_equal(inside.origin, [600, 600]) and (inside.width, inside.height) == (1800, 1600)
    # where ``dense.sparse_features`` puts them as sent: (xy + 0.5) / scale - 0.5 + origin
    assert np.allclose((inside.xy + 0.5) / inside.scale - 0.5 + inside.origin, alone.xy + 600)


def test_a_sliver_inside_wide_margins_is_read_with_them(coffee):
    """A strip 20 px high in the middle of a large black image: a picture no image sent may be
    (shorter than the least side), so the detector reads the whole image as before."""
    img = np.zeros((1600, 1800), np.uint8)
    img[790:810, 600:1200] = coffee[200:220, :600]
    found = dense.find_points(imaging.Decoded(img, 1800, 1600), Settings())
    assert np.array_equal(found.origin, [0, 0]) and found.scale[0] < 1
