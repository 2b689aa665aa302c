"""The typed client against the real app served by uvicorn on loopback."""

import asyncio

import cv2
import httpx
import numpy as np
import pytest

from service.client import AsyncCorrespondenceClient, CorrespondenceClient, ServiceError
from service.config import Settings
from tests.conftest import live_server


@pytest.fixture(scope="module")
def server():
    with live_server(Settings(api_keys="secret")) as url:
        yield url


def test_similarity_descriptors_and_errors(server, coffee):
    a, b = coffee[100:164, 200:264], coffee[300:364, 450:514]
    with CorrespondenceClient(server, api_key="secret") as c:
        s = c.similarity([a, a], [a, b])
        assert s.dtype == np.float32 and s.shape == (2,) and s[0] > s[1]
        d = c.descriptors([a, b])
        assert d.shape[0] == 2
        with pytest.raises(ServiceError) as e:
            c.similarity([a], [a], model="nope")
        assert e.value.status == 404 and e.value.code == "unknown_model"
        assert len(e.value.request_id) == 32 and f"(request {e.value.request_id})" in str(e.value)
    with CorrespondenceClient(server, api_key="wrong") as c, pytest.raises(ServiceError) as e:
        c.descriptors([a])
    assert e.value.status == 401


def test_dense_calls_with_ids(server, coffee):
    with CorrespondenceClient(server, api_key="secret") as c:
        ida = c.add_image(coffee)
        m = c.correspondences(ida, coffee, max_matches=300, geometry="homography")
        assert m.xy_a.shape == (300, 2) and m.inliers.shape == (300,) and m.model.shape == (3, 3)
        assert m.method == "sparse" and m.ratio.shape == m.confidence.shape == (300,)
        assert ((m.confidence >= 0) & (m.confidence <= 1)).all() and ((m.ratio >= 0) & (m.ratio <= 1)).all()
        assert m.one_scene is None  # a geometry was asked for: its own answer says
        assert m.coverage > 0.5  # the same photo: the inliers span most of it
        assert m.network == Settings().sparse_fast_model and "features" in m.timing_ms  # verified: its answer stands
        plain = c.correspondences(ida, coffee, ratio=0.8)
        assert (plain.ratio < 0.8).all() and plain.one_scene is True and plain.coverage is None
        assert plain.explained.shape == plain.score.shape and plain.explained.mean() > 0.9 and m.explained is None
        d = c.correspondences(ida, coffee, max_matches=50, method="dense")
        assert d.ratio is None and d.confidence.shape == (50,)  # only sparse matches measure Lowe's ratio
        assert d.one_scene is True  # RANSAC looks at every match, not at the 50 returned
        assert d.network == Settings().default_dense_model
        pts = np.random.default_rng(0).uniform([40, 40], [560, 360], (20, 2))
        t = c.transfer(ida, ida, pts)
        # the same image: sub-pixel refinement may lean up to half a cell where the similarity
        # profile is lopsided, so the median is the sharp check
        err = np.linalg.norm(t.xy - pts, axis=1)
        assert np.median(err) < 1.0 and err.max() < 2.5 and t.consistent.all()
        assert t.confidence.shape == t.cycle_error.shape == (20,) and t.cycle_error.max() < 2.5
        assert t.in_view is None or t.in_view.all()  # held at b's border only off b (here: never)
        assert t.support.shape == (20,) and t.support.min() > 0.9  # one image: every match explained
        held = c.held_image(ida)
        assert held["bytes_kept"] and Settings().default_dense_model in held["networks"] and held["expires_in_s"] > 0
        c.delete_image(ida)
        assert c.held_image(ida) is None
        with pytest.raises(ServiceError) as e:
            c.correspondences(ida, coffee)
        assert e.value.status == 404


def test_align_says_when_b_was_brought_onto_a_first(server, coffee):
    h, w = coffee.shape
    turned = cv2.warpAffine(coffee, cv2.getRotationMatrix2D((w / 2, h / 2), 40, 1.0), (w, h))
    with CorrespondenceClient(server, api_key="secret") as c:
        out = c.align(coffee, turned)
        assert out["flow"].shape[2] == 2 and abs(out["prealigned"]["rotation_deg"]) > 30 and out["one_scene"]
        assert c.align(coffee, coffee)["prealigned"] is None  # nothing to undo
        t = c.transfer(coffee, turned, [[w / 2 + 40, h / 2], [w / 2, h / 2 - 40]], method="align")
        truth = cv2.transform(np.float32([[[w / 2 + 40, h / 2], [w / 2, h / 2 - 40]]]),
                              cv2.getRotationMatrix2D((w / 2, h / 2), 40, 1.0))[0]
        assert t.guidance == "align" and t.one_scene and abs(t.prealigned["rotation_deg"]) > 30
        assert np.linalg.norm(t.xy - truth, axis=1).max() < 3 and t.confidence.shape == (2,)


def test_a_transfer_answer_reads_into_arrays_each_optional_field_none_where_left_out():
    points = [{"x": 1.5, "y": 2.0, "score": 0.9, "consistent": True, "cycle_error": 0.3, "confidence": 0.8,
               "by_plane": True, "support": 0.75, "second_motion": False},
              {"x": 3.0, "y": 4.5, "score": 0.7, "consistent": False, "cycle_error": 6.0, "confidence": 0.2,
               "by_plane": False, "support": 0.25, "second_motion": True}]
    body = {"model": "ucn", "guidance": "fundamental", "warnings": ["w"], "keypoints": points}

    def handler(request):
        return httpx.Response(200, json=body)

    with CorrespondenceClient("http://x", transport=httpx.MockTransport(handler)) as c:
        t = c.transfer(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(t.xy, [[1.5, 2.0], [3.0, 4.5]])
    assert t.consistent.tolist() == [True, False] and t.guidance == "fundamental" and t.warnings == ["w"]
    np.testing.assert_allclose(t.confidence, [0.8, 0.2])
    np.testing.assert_allclose(t.support, [0.75, 0.25])
    assert t.by_plane.tolist() == [True, False] and t.second_motion.tolist() == [False, True]
    assert t.in_view is None and t.prealigned is None and t.one_scene is None  # left out: None, not a guess
    assert t.coverage is None
    body["coverage"] = 0.07
    with CorrespondenceClient("http://x", transport=httpx.MockTransport(handler)) as c:
        assert c.transfer(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), [[1, 2], [3, 4]]).coverage == 0.07


def test_retries_on_503_then_succeeds():
    calls = []

    def handler(request):
        calls.append(1)
        if len(calls) < 3:
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"detail": "busy", "code": "overloaded"})
        return httpx.Response(200, json={"model": "m", "scores": [0.5]})

    with CorrespondenceClient("http://x", transport=httpx.MockTransport(handler), backoff=0.001) as c:
        assert c.similarity([np.zeros((64, 64), np.uint8)], [np.zeros((64, 64), np.uint8)]).tolist() == [0.5]
    assert len(calls) == 3


def test_a_delete_retried_after_a_503_takes_its_404_as_done():
    """A DELETE that fails midway (503: Redis went away between its calls) may have deleted the id,
    so its retry's 404 is success; a first try's 404 is the caller's error."""
    answers = []

    def handler(request):
        assert request.method == "DELETE"
        status = answers.pop(0)
        return httpx.Response(status, json={"detail": "x", "code": {503: "not_ready", 404: "not_found"}[status]})

    with CorrespondenceClient("http://x", transport=httpx.MockTransport(handler), backoff=0.001) as c:
        answers[:] = [503, 404]
        assert c.delete_image("a" * 64) is None and answers == []
        answers[:] = [404]
        with pytest.raises(ServiceError) as exc:
            c.delete_image("a" * 64)
        assert exc.value.status == 404


def test_the_async_client_answers_as_the_blocking_one_does(server, coffee):
    """The same calls, awaited, several at once on one client: the same answers, and errors raise
    as they do."""
    a, b = coffee[100:164, 200:264], coffee[300:364, 450:514]
    with CorrespondenceClient(server, api_key="secret") as c:
        sync = c.correspondences(coffee, coffee[20:, 30:], geometry="homography", max_matches=100)

    async def run():
        async with AsyncCorrespondenceClient(server, api_key="secret") as c:
            ida = await c.add_image(coffee)
            m, scores, t = await asyncio.gather(
                c.correspondences(ida, coffee[20:, 30:], geometry="homography", max_matches=100),
                c.similarity([a, a], [a, b]), c.transfer(ida, ida, [[100.0, 100.0]]))
            await c.delete_image(ida)
            with pytest.raises(ServiceError) as e:
                await c.transfer(ida, ida, [[100.0, 100.0]])
            return m, scores, t, e.value
    m, scores, t, gone = asyncio.run(run())
    np.testing.assert_array_equal(m.xy_a, sync.xy_a)
    np.testing.assert_array_equal(m.inliers, sync.inliers)
    assert m.geometry == "homography" and scores[0] > scores[1] and t.consistent.all()
    assert gone.status == 404 and gone.code == "not_found"


def test_the_async_client_retries_as_the_blocking_one_does():
    answers = []

    def handler(request):
        status = answers.pop(0)
        if status == 200:
            return httpx.Response(200, json={"model": "m", "scores": [0.5]})
        return httpx.Response(status, headers={"Retry-After": "0"}, json={"detail": "x", "code": "c"})

    async def run(first: list[int], call: str):
        answers[:] = first
        async with AsyncCorrespondenceClient("http://x", transport=httpx.MockTransport(handler), backoff=0.001) as c:
            if call == "delete":
                return await c.delete_image("a" * 64)
            return await c.similarity([np.zeros((64, 64), np.uint8)], [np.zeros((64, 64), np.uint8)])
    assert asyncio.run(run([503, 429, 200], "similarity")).tolist() == [0.5] and answers == []
    assert asyncio.run(run([503, 404], "delete")) is None and answers == []
    with pytest.raises(ServiceError):
        asyncio.run(run([404], "delete"))
