"""Image ids from /v1/images: the bytes kept beside the features (KEEP_IMAGES) answer every route
as the bytes sent do; without them (evicted, refused, or not kept) an id carries features only and
the answers say what that left out."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from starlette.concurrency import run_in_threadpool

from service import dense
from tests.conftest import encode, make_client, until

DENSE = {"method": "dense", "geometry": "homography"}


@pytest.fixture(scope="module")
def turned(coffee) -> tuple[bytes, bytes]:
    """(a, b): b shows a turned a quarter and at 0.6x, which the dense search meets only in a
    copy of b brought onto a."""
    small = cv2.resize(coffee, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    return encode(coffee), encode(np.ascontiguousarray(np.rot90(small)))


def upload(client, data: bytes) -> str:
    r = client.post("/v1/images", files={"image": ("x.png", data)})
    assert r.status_code == 200, r.text
    return r.json()["image_id"]


def by_ids(client, turned) -> dict[str, str]:
    return {"image_a_id": upload(client, turned[0]), "image_b_id": upload(client, turned[1])}


def sent(turned) -> dict:
    return {"image_a": ("a.png", turned[0], "image/png"), "image_b": ("b.png", turned[1], "image/png")}


def test_an_image_named_by_id_is_answered_as_its_bytes_are(client, turned):
    """Pre-aligned and matched as the bytes are, drawn (render=png), and warped by /v1/align: before
    the bytes were kept, the same request found 0 matches where the bytes found thousands."""
    ids = by_ids(client, turned)
    by_bytes = client.post("/v1/correspondences", files=sent(turned), data=DENSE).json()
    by_id = client.post("/v1/correspondences", data=DENSE | ids).json()
    assert by_bytes["prealigned"] is not None and len(by_bytes["matches"]) > 200
    assert {k: by_id[k] for k in ("prealigned", "matches", "warnings", "homography")} == \
           {k: by_bytes[k] for k in ("prealigned", "matches", "warnings", "homography")}
    drawn = client.post("/v1/correspondences", data=DENSE | ids | {"render": "png"})
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/png", drawn.text
    aligned = client.post("/v1/align", data=ids | {"warp": "true"})
    assert aligned.status_code == 200, aligned.text
    assert aligned.json()["prealigned"] is not None and aligned.json()["warped_png"]


def test_without_its_bytes_an_id_carries_features_only_and_with_them_outlives_its_features(client, turned):
    """b's bytes evicted: the dense search is not pre-aligned and says why, and nothing can be
    drawn; a's features evicted while its bytes are kept: computed afresh, not a 404."""
    ids = by_ids(client, turned)
    cache, settings = client.app.state.cache, client.app.state.settings
    cache.delete(dense.image_key(ids["image_b_id"]))
    out = client.post("/v1/correspondences", data=DENSE | ids).json()
    assert out.get("prealigned") is None and any("bytes are not kept" in w for w in out["warnings"]), out["warnings"]
    drawn = client.post("/v1/correspondences", data=DENSE | ids | {"render": "png"})
    assert drawn.status_code == 422 and "bytes are not kept" in drawn.json()["detail"]
    model = client.app.state.registry.get(settings.default_dense_model, ("dense",))
    cache.delete(dense.key_for(ids["image_a_id"], model, settings))
    again = client.post("/v1/keypoints/transfer", data=ids | {"keypoints": "[[100, 100]]"})
    assert again.status_code == 200, again.text
    assert cache.get(dense.key_for(ids["image_a_id"], model, settings)) is not None  # cached again


def test_bytes_that_are_not_the_image_their_id_names_are_refused(client, turned):
    ids = by_ids(client, turned)
    cache = client.app.state.cache
    key = dense.image_key(ids["image_b_id"])
    cache.put(key, turned[0])  # another image's bytes under b's id
    refused = cache.stats.rejected
    out = client.post("/v1/correspondences", data=DENSE | ids).json()
    assert out.get("prealigned") is None and any("bytes are not kept" in w for w in out["warnings"])
    assert cache.stats.rejected == refused + 1 and cache.get(key) is None


def test_keep_images_false_keeps_features_only(turned, coffee):
    """Without the bytes, what needs them is not done and the answers say so: a dense search or a
    transfer not pre-aligned (b at 0.6x, turned a quarter), a transfer's geometry fitted to the
    dense matches alone where no keypoints were cached (images posted with method=dense)."""
    with make_client(keep_images=False, warm_up=False) as c:
        ids = by_ids(c, turned)
        assert c.app.state.cache.get(dense.image_key(ids["image_b_id"])) is None
        out = c.post("/v1/correspondences", data=DENSE | ids).json()
        assert out.get("prealigned") is None and any("bytes are not kept" in w for w in out["warnings"])
        said = [w for w in out["warnings"] if w.startswith("b shows a at 0.6x, turned -90 degrees")]
        assert said and "dense search cannot be pre-aligned" in said[0], out["warnings"]
        cal = c.app.state.registry.get(out["model"], ("dense",)).entry.calibration
        assert "dense-unverified-uncopied" in cal, "python -m eval.calibrate fits it"
        assert out.get("homography") is None and out["matches"], out["warnings"]  # the direct search meets little
        curve = cal["dense-unverified-uncopied"]  # the uncopied search's own curve of answers failing to verify
        for m in out["matches"]:
            assert m["confidence"] == pytest.approx(np.interp(m["score"], curve.score, curve.p), abs=1e-4)
        moved = c.post("/v1/keypoints/transfer", data=ids | {"keypoints": "[[100, 100]]"}).json()
        said = [w for w in moved["warnings"] if w.startswith("b shows a at 0.6x, turned -90 degrees")]
        assert moved.get("prealigned") is None and said and "not searched in copies" in said[0], moved
        cal = c.app.state.registry.get(moved["model"], ("dense",)).entry.calibration
        own_curves(cal, moved, "transfer-uncopied")
        ids = {k: c.post("/v1/images", files={"image": ("x.png", encode(img))}, data={"method": "dense"}).json()[
            "image_id"] for k, img in (("image_a_id", coffee[::-1]), ("image_b_id", coffee[::-1, 20:]))}
        plain = c.post("/v1/keypoints/transfer", data=ids | {"keypoints": "[[100, 100], [200, 150]]"}).json()
        assert any("fitted to the dense matches alone" in w for w in plain["warnings"]), plain
        assert plain["guidance"] != "none", plain["warnings"]
        own_curves(cal, plain, "transfer-dense")


def own_curves(cal: dict, answer: dict, own: str) -> None:
    """Each point of a transfer by ids without their bytes read off the curves of its own kind (the
    usual one where too few validation points came back inconsistent to fit its own)."""
    assert own in cal, "python -m eval.calibrate fits it"
    for k in answer["keypoints"]:
        curve = cal[own] if k["consistent"] else cal.get(f"{own}-inconsistent", cal["transfer-inconsistent"])
        assert k["confidence"] == pytest.approx(np.interp(k["score"], curve.score, curve.p), abs=1e-4)


def test_a_second_instance_draws_an_image_the_first_kept_in_redis(redis_server, turned):
    """The bytes travel through Redis as the features do: another replica answers the id as the
    bytes, pre-aligned and drawn."""
    with make_client(redis_url=redis_server.url, warm_up=False) as one:
        ids = by_ids(one, turned)
    with make_client(redis_url=redis_server.url, warm_up=False) as two:
        out = two.post("/v1/correspondences", data=DENSE | ids).json()
        assert out["prealigned"] is not None and out["warnings"] == [], out.get("warnings")
        drawn = two.post("/v1/correspondences", data=DENSE | ids | {"render": "png"})
        assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/png"


def test_delete_drops_an_images_bytes_and_features(client, coffee):
    """After DELETE the id is unknown to every route (404, as one never sent), and a second
    DELETE is a 404 too; an id that is not a sha256 is a 422."""
    data = encode(np.ascontiguousarray(coffee[40:240, 60:360]))
    image_id = upload(client, data)
    cache = client.app.state.cache
    assert cache.get(dense.image_key(image_id)) == data
    r = client.delete(f"/v1/images/{image_id}")
    assert r.status_code == 204 and not r.content
    assert cache.get(dense.image_key(image_id)) is None
    for path, fields in (("/v1/correspondences", {"method": "dense"}), ("/v1/correspondences", {"method": "sparse"}),
                         ("/v1/keypoints/transfer", {"keypoints": "[[10, 10]]"})):
        r = client.post(path, data={"image_a_id": image_id, "image_b_id": image_id} | fields)
        assert r.status_code == 404 and r.json()["code"] == "not_found", (path, r.text)
    again = client.delete(f"/v1/images/{image_id}")
    assert again.status_code == 404 and again.json()["detail"] == f"no cached image {image_id}"
    assert client.delete("/v1/images/not-a-sha256").status_code == 422


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_delete_drops_the_features_of_the_copies_made_of_the_image(backend, redis_server, turned):
    """A pair pre-aligned by ids caches the features of a copy of one image brought onto the other;
    deleting both ids leaves none of them, in process or in Redis."""
    with make_client(warm_up=False, redis_url=redis_server.url if backend == "redis" else None) as c:
        ids = by_ids(c, turned)
        assert c.post("/v1/correspondences", data=DENSE | ids).json()["prealigned"] is not None
        cache = c.app.state.cache

        def copies() -> list[str]:
            held = cache.keys() if backend == "memory" else [k.decode() for k in cache.client.keys("feat:*:copy:*")]
            return [k for k in held if ":copy:" in k and any(i in k for i in ids.values())]
        assert copies()
        for image_id in ids.values():
            assert c.delete(f"/v1/images/{image_id}").status_code == 204
        assert copies() == []


def test_get_says_what_an_id_holds_and_for_how_long(client, coffee):
    """GET /v1/images/{id}: the networks whose features are cached, the bytes kept, the time left
    (not renewed by asking); 404 once deleted or never posted, 422 for what is not an id."""
    posted = client.post("/v1/images", files={"image": ("x.png", encode(np.ascontiguousarray(coffee[50:250])))})
    image_id, models = posted.json()["image_id"], posted.json()["models"]
    first = client.get(f"/v1/images/{image_id}")
    assert first.status_code == 200, first.text
    held = first.json()
    ttl = client.app.state.settings.cache_ttl_s
    assert held["image_id"] == image_id and held["bytes_kept"] and ttl - 5 <= held["expires_in_s"] <= ttl
    assert held["networks"] == sorted(set(models.values()))
    cache, settings = client.app.state.cache, client.app.state.settings
    dense_model = client.app.state.registry.get(settings.default_dense_model, ("dense",))
    cache.delete(dense.key_for(image_id, dense_model, settings))  # evicted: the bytes still answer for it
    held = client.get(f"/v1/images/{image_id}").json()
    assert dense_model.name not in held["networks"] and held["bytes_kept"]
    assert client.delete(f"/v1/images/{image_id}").status_code == 204
    gone = client.get(f"/v1/images/{image_id}")
    assert gone.status_code == 404 and gone.json()["detail"] == f"no cached image {image_id}"
    assert client.get(f"/v1/images/{'0' * 64}").status_code == 404
    assert client.get("/v1/images/not-an-id").status_code == 422


def test_get_counts_down_and_reads_redis(coffee, redis_server):
    """The time left falls as the TTL runs (in process and in Redis), another replica reads it
    from Redis, the bytes not kept say so; with Redis down and the id not in this replica's tier,
    503 rather than a 404 it cannot know."""
    data = encode(np.ascontiguousarray(coffee[::2, 1::2]))
    for redis_url in (None, redis_server.url):
        with make_client(cache_ttl_s=4, keep_images=False, warm_up=False, redis_url=redis_url) as c:
            image_id = c.post("/v1/images", files={"image": ("x.png", data)}).json()["image_id"]
            first = c.get(f"/v1/images/{image_id}").json()
            time.sleep(1.1)
            later = c.get(f"/v1/images/{image_id}").json()
            assert not first["bytes_kept"] and first["networks"], first
            assert first["expires_in_s"] >= 3 and later["expires_in_s"] <= first["expires_in_s"] - 1, (first, later)
    with make_client(redis_url=redis_server.url, warm_up=False, redis_retry_s=0.1) as other:
        assert other.get(f"/v1/images/{image_id}").json()["networks"] == first["networks"]
        redis_server.stop()
        r = other.get(f"/v1/images/{image_id}")
        assert r.status_code == 503 and r.json()["code"] == "not_ready" and r.headers["retry-after"], r.text


def test_a_request_computing_when_its_image_is_deleted_does_not_bring_it_back(coffee, monkeypatch):
    """A transfer computing an image's features from its kept bytes (the features were evicted)
    when the image is deleted still answers, but what it computed is not cached: the id stays
    unknown (404) rather than answering again by features for the TTL."""
    reached, go = threading.Event(), threading.Event()
    computed = dense.computed

    async def held(*args, **kwargs):
        reached.set()
        await run_in_threadpool(go.wait, 30)
        return await computed(*args, **kwargs)

    with make_client(warm_up=False) as c:
        gone, kept = (upload(c, encode(np.ascontiguousarray(coffee[y:y + 240, 30:350]))) for y in (10, 60))
        settings, cache = c.app.state.settings, c.app.state.cache
        key = dense.key_for(gone, c.app.state.registry.get(settings.default_dense_model, ("dense",)), settings)
        cache.delete(key)  # evicted: the next request computes the features from the kept bytes
        monkeypatch.setattr(dense, "computed", held)
        ask = {"image_a_id": gone, "image_b_id": kept, "keypoints": "[[100, 100]]"}
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(c.post, "/v1/keypoints/transfer", data=ask)
            assert reached.wait(30)
            assert c.delete(f"/v1/images/{gone}").status_code == 204
            go.set()
            assert pending.result().status_code == 200  # it had the bytes when it began
        assert cache.get(key) is None
        r = c.post("/v1/keypoints/transfer", data=ask)
        assert r.status_code == 404 and gone in r.json()["detail"], r.text


def test_delete_reaches_redis_and_says_when_it_cannot(redis_server, coffee):
    """Deleted through one replica, the id is gone for another at once, though that one had read
    the image into its in-process tier; with Redis down, DELETE is a 503 (try again), not a
    silent success."""
    data = encode(np.ascontiguousarray(coffee[::2, ::2]))
    with make_client(redis_url=redis_server.url, warm_up=False, redis_retry_s=0.1) as one, \
            make_client(redis_url=redis_server.url, warm_up=False) as two:
        image_id = upload(one, data)

        def by_two() -> int:
            return two.post("/v1/keypoints/transfer", data={"image_a_id": image_id, "image_b_id": image_id,
                                                            "keypoints": "[[10, 10]]"}).status_code
        assert by_two() == 200 and two.app.state.cache.held_bytes > len(data)
        assert until(two.app.state.cache.listener.subscribed.is_set)
        assert "corr_cache_invalidation_up 1.0" in two.get("/metrics").text
        assert one.delete(f"/v1/images/{image_id}").status_code == 204
        assert until(lambda: two.app.state.cache.held_bytes == 0, 1.0) and by_two() == 404
        image_id = upload(one, data)
        redis_server.stop()
        r = one.delete(f"/v1/images/{image_id}")
        assert r.status_code == 503 and r.json()["code"] == "not_ready" and r.headers["retry-after"]


def test_an_id_expires_after_the_cache_ttl(coffee):
    """In the embedded default as in Redis, an id answers for CACHE_TTL_S (said as expires_in_s),
    then is unknown (404) until the image is sent or posted again."""
    data = encode(np.ascontiguousarray(coffee[::2, ::2]))
    with make_client(cache_ttl_s=2, warm_up=False) as c:  # 2 s: the post and first transfer fit a loaded machine
        r = c.post("/v1/images", files={"image": ("x.png", data)})
        assert r.status_code == 200 and r.json()["expires_in_s"] == 2
        ask = {"image_a_id": r.json()["image_id"], "image_b_id": r.json()["image_id"], "keypoints": "[[10, 10]]"}
        assert c.post("/v1/keypoints/transfer", data=ask).status_code == 200
        held = c.app.state.cache.held_bytes
        assert held > len(data) and f'corr_cache_held_bytes{{backend="memory"}} {float(held)}' in c.get("/metrics").text
        time.sleep(2.2)
        assert c.post("/v1/keypoints/transfer", data=ask).status_code == 404
        assert c.delete(f"/v1/images/{ask['image_a_id']}").status_code == 404


def test_posting_an_image_again_renews_its_id(coffee, redis_server):
    """The features of an image posted again (found in the cache) start their TTL again, as its
    kept bytes do, so the id answers for expires_in_s from the last POST; with KEEP_IMAGES=false
    (features only) too, in process and in Redis."""
    data = encode(np.ascontiguousarray(coffee[1::2, ::2]))
    for redis_url in (None, redis_server.url):
        with make_client(cache_ttl_s=5, keep_images=False, warm_up=False, redis_url=redis_url) as c:
            first = c.post("/v1/images", files={"image": ("x.png", data)}).json()
            ask = {"image_a_id": first["image_id"], "image_b_id": first["image_id"], "keypoints": "[[10, 10]]"}
            time.sleep(2.8)
            again = c.post("/v1/images", files={"image": ("x.png", data)}).json()
            assert again["cached"] and again["expires_in_s"] == 5
            time.sleep(2.8)  # 5.6 s after the first POST, 2.8 s after the second: 2.2 s to spare either way
            # (a loaded machine's requests take their time)
            assert c.post("/v1/keypoints/transfer", data=ask).status_code == 200, redis_url
