"""Real views from a video: each moving face's homography and which pixels it carries (models.data.video)."""
import cv2
import numpy as np
import pytest
import skimage.data as skd

from models.data import synth, video

# the box's face: a square of one photo, turned 12 degrees about its centre, shrunk to 0.9 and
# moved (40, 25) px, over a still background of another photo
TURN = cv2.getRotationMatrix2D((200.0, 150.0), 12, 0.9) + np.array([[0, 0, 40], [0, 0, 25]])
FACE = (slice(90, 210), slice(140, 260))  # rows, columns of the face in frame a


def frames() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames a and b (320x400 grey) and the homography taking the face from a to b."""
    background = cv2.resize(skd.camera(), (400, 320))
    face = np.zeros_like(background)
    face[FACE] = cv2.resize(cv2.cvtColor(skd.astronaut(), cv2.COLOR_RGB2GRAY), (120, 120))
    mask = np.zeros_like(background)
    mask[FACE] = 1
    a = np.where(mask > 0, face, background)
    h = np.vstack([TURN, [0, 0, 1]])
    moved, where = cv2.warpPerspective(face, h, (400, 320)), cv2.warpPerspective(mask, h, (400, 320))
    return a, np.where(where > 0, moved, background), h


def test_the_moving_face_is_found_and_the_still_background_left_out():
    a, b, h = frames()
    found = video.planes(a, b)
    assert len(found) == 1
    corners = np.float32([[150, 100], [250, 100], [250, 200], [150, 200]]).reshape(-1, 1, 2)
    np.testing.assert_allclose(cv2.perspectiveTransform(corners, found[0][0]),
                               cv2.perspectiveTransform(corners, h), atol=1.0)


def test_only_pixels_of_the_face_have_truth_and_it_is_where_the_face_moved():
    a, b, h = frames()
    point_map = video.point_map(a, b)
    inside = np.array([[170.0, 120], [230, 180], [200, 150]])
    outside = np.array([[40.0, 40], [350, 280], [100, 250]])  # the still background, and its camera man
    xy, _, ok = point_map(np.r_[inside, outside])
    assert ok[:3].all() and not ok[3:].any()
    np.testing.assert_allclose(xy[:3], cv2.perspectiveTransform(inside[:, None], h)[:, 0], atol=1.0)


def test_frames_with_nothing_moving_give_no_truth():
    a, _, _ = frames()
    assert video.planes(a, a) == [] and video.point_map(a, a) is None


def test_frame_pairs_stay_inside_the_video():
    assert video.frame_pairs(40, every=10, gaps=(5, 30)) == [(0, 5), (0, 30), (10, 15), (20, 25), (30, 35)]


def test_a_patch_set_from_two_frames_has_positives_where_a_detector_finds_them_again():
    a, b, _ = frames()
    ps = synth.mine_pairs(a, b, video.point_map(a, b), np.random.default_rng(0), n_kp=800, max_pos=200,
                          similar=False)
    assert len(ps.pos) >= 20
    assert np.median(ps.offset) < 0.05  # positives as a detector finds them again, not far off


@pytest.mark.skipif(not video.VIDEO.exists(), reason="needs `python -m models.prep_data --opencv`")
def test_the_box_video_has_its_frames():
    shots = video.frames()
    assert len(shots) == 455 and shots[0].shape == (480, 640) and shots[0].dtype == np.uint8


@pytest.mark.skipif(not video.VIDEO.exists(), reason="needs `python -m models.prep_data --opencv`")
def test_two_frames_of_the_box_video_give_positives_near_where_they_should_be():
    from models.build_patches import video_part
    ps = video_part((100, 115), seed=53)
    assert len(ps.pos) >= 100 and len(ps.neg) >= 2 * len(ps.pos)  # random, nearby and SIFT-alike negatives
    assert np.median(ps.offset) < 0.05
