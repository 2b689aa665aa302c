"""The web page as a person uses it, in headless Chromium (Debian's, driven by Playwright): it
loads, two real images go up, matches are drawn, a click on image a gives a transferred point
(guided by the geometry the person picks), the alignment shows, and with API keys on, a key typed
in the page is sent."""
from __future__ import annotations

import json
import math
import re
import shutil

import cv2
import httpx
import numpy as np
import pytest

from eval.latency import serve
from eval.robustness import uploads, visible_points
from models.data import lenses, pairs
from service import render
from service.config import Settings
from tests.conftest import real

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (Debian's package `chromium`; "
                                                          ".ci/run installs it)")


@pytest.fixture(scope="module")
def images(tmp_path_factory, coffee) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("page")
    a = cv2.resize(coffee, (480, 320), interpolation=cv2.INTER_AREA)
    h = np.array([[0.93, 0.1, 18], [-0.08, 0.95, 12], [2e-5, 1e-5, 1]])
    b = cv2.warpPerspective(a, h, (480, 320))
    cv2.imwrite(str(folder / "a.png"), a)
    cv2.imwrite(str(folder / "b.png"), b)
    return str(folder / "a.png"), str(folder / "b.png")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def url():
    """A server with the defaults, shared by the tests that need no other settings."""
    proc, url = serve({})
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def page(browser):
    p = browser.new_page(viewport={"width": 1280, "height": 900})
    yield p
    p.close()


def canvas_pixel(page, x: float, y: float) -> list[int]:
    return page.evaluate(f"Array.from(document.getElementById('view').getContext('2d')"
                         f".getImageData({int(x)}, {int(y)}, 1, 1).data)")


def use_the_page(page, url: str, images: tuple[str, str], tmp_path) -> None:
    page.goto(url + "/")
    assert page.title() == "Image correspondence"
    page.set_input_files("#file-a", images[0])
    page.set_input_files("#file-b", images[1])
    page.wait_for_function("!document.getElementById('match').disabled")
    assert page.input_value("#geometry") == "auto"  # the geometry that fits best: a plane's homography here
    page.click("#match")
    page.wait_for_function("document.getElementById('status').dataset.matches !== undefined", timeout=60000)
    status = page.inner_text("#status")
    assert re.search(r"verified by a homography spanning \d+ % of image a", status), status
    assert int(page.get_attribute("#status", "data-matches")) >= 20
    # matches are drawn: green pixels on the canvas where there were none in the photos
    green = page.evaluate("""(() => { const c = document.getElementById('view');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 150 && d[i] < 80 && d[i + 2] < 80) n++; return n; })()""")
    assert green > 200
    # the verified matches are drawn last, over the rejected ones
    drawn = page.get_attribute("#view", "data-drawn").split(",")
    assert "rejected" in drawn and drawn.index("verified") > max(i for i, k in enumerate(drawn) if k == "rejected")
    # the least-confidence slider hides the matches under it, and says how many are left
    assert page.get_attribute("#status", "data-shown") == page.get_attribute("#status", "data-matches")
    page.fill("#least", "1")  # nothing is surer than 1: only matches at exactly 1 stay
    page.wait_for_function("document.getElementById('status').textContent.includes('shown at confidence 1.00')")
    fewer = int(page.get_attribute("#status", "data-shown"))
    assert fewer < int(page.get_attribute("#status", "data-matches"))
    page.fill("#least", "0")
    page.wait_for_function("document.getElementById('status').dataset.shown === "
                           "document.getElementById('status').dataset.matches")
    # a click on image a gives a transferred point in b, with its score
    box = page.locator("#view").bounding_box()
    page.mouse.click(box["x"] + 200 * box["width"] / 960, box["y"] + 150 * box["height"] / 320)
    page.wait_for_function("document.getElementById('transfer').textContent.includes('score')", timeout=60000)
    text = page.inner_text("#transfer")
    assert "in b, score" in text and "confidence" in text and "guided by homography" in text, text
    # a scene with depth: the person names the fundamental matrix, and the next click is guided by it
    page.select_option("#transfer-geometry", "fundamental")
    page.evaluate("document.getElementById('transfer').textContent = ''")
    page.mouse.click(box["x"] + 200 * box["width"] / 960, box["y"] + 150 * box["height"] / 320)
    page.wait_for_function("document.getElementById('transfer').textContent.includes('score')", timeout=60000)
    assert "guided by fundamental" in page.inner_text("#transfer"), page.inner_text("#transfer")
    page.click("#align")
    page.wait_for_function("!document.getElementById('alignment').hidden", timeout=120000)
    shot = cv2.imdecode(np.frombuffer(page.screenshot(full_page=True), np.uint8), cv2.IMREAD_COLOR)
    cv2.imwrite(str(tmp_path / "page.png"), shot)
    assert shot.shape[0] > 300 and shot.std() > 20  # not blank


def test_a_person_matches_clicks_and_aligns_two_photos(page, url, images, tmp_path):
    use_the_page(page, url, images, tmp_path)


def test_an_answer_given_twice_says_so(page, url, images, tmp_path):
    """A photo against noise: the fast descriptor verifies nothing, the default one answers again,
    and the status line says which answered and why."""
    noise = str(tmp_path / "noise.png")
    rng = np.random.default_rng(0)
    cv2.imwrite(noise, cv2.GaussianBlur(rng.integers(0, 255, (320, 480), dtype=np.uint8), (0, 0), 2))
    page.goto(url + "/")
    page.set_input_files("#file-a", images[0])
    page.set_input_files("#file-b", noise)
    page.wait_for_function("!document.getElementById('match').disabled")
    page.select_option("#geometry", "homography")
    page.click("#match")
    page.wait_for_function("document.getElementById('status').dataset.matches !== undefined", timeout=60000)
    status = page.inner_text("#status")
    default = Settings().default_descriptor_model
    assert f"(sparse, {default}, which answered again: the fast descriptor's answer was in doubt)" in status, status
    page.set_input_files("#file-b", images[1])  # a pair the fast descriptor verifies: its answer stands
    page.wait_for_function("!document.getElementById('match').disabled")
    page.click("#match")
    page.wait_for_function("document.getElementById('status').textContent.includes('spanning')", timeout=60000)
    assert f"(sparse, {Settings().sparse_fast_model})" in page.inner_text("#status")


def test_without_a_geometry_the_matches_the_scenes_geometry_does_not_explain_are_drawn_as_rejected(page, url, images,
                                                                                                   tmp_path):
    """b half noise, no geometry asked: the noise's look-alike matches are drawn faint red under
    the others, as a verified answer's rejected ones, and none green."""
    b = cv2.imread(images[1], cv2.IMREAD_GRAYSCALE)
    rng = np.random.default_rng(0)
    b[:, 240:] = cv2.GaussianBlur(rng.integers(0, 255, (320, 240), dtype=np.uint8), (0, 0), 1.5)
    cv2.imwrite(str(tmp_path / "half.png"), b)
    page.goto(url + "/")
    page.set_input_files("#file-a", images[0])
    page.set_input_files("#file-b", str(tmp_path / "half.png"))
    page.wait_for_function("!document.getElementById('match').disabled")
    page.select_option("#geometry", "none")
    page.click("#match")
    page.wait_for_function("document.getElementById('status').dataset.matches !== undefined", timeout=60000)
    drawn = page.get_attribute("#view", "data-drawn").split(",")
    assert "rejected" in drawn and "unverified" in drawn and "verified" not in drawn, set(drawn)
    said = re.search(r"(\d+) matches .*, (\d+) of them fit one geometry", page.inner_text("#status"))
    assert said and int(said.group(2)) == drawn.count("unverified") < int(said.group(1)), page.inner_text("#status")


def test_with_keys_on_the_page_sends_the_key_typed_in_it(browser, images, tmp_path):
    proc, url = serve({"API_KEYS": "page-key"})
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url + "/")
        page.set_input_files("#file-a", images[0])
        page.set_input_files("#file-b", images[1])
        page.wait_for_function("!document.getElementById('match').disabled")
        page.click("#match")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('Failed')")
        assert re.search(r"401: .* \(request [0-9a-f]{32}\)$", page.inner_text("#status")), page.inner_text("#status")
        page.fill("#api-key", "page-key")
        page.dispatch_event("#api-key", "change")
        page.click("#match")
        page.wait_for_function("document.getElementById('status').dataset.matches !== undefined", timeout=60000)
        page.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_tiff_the_browser_cannot_show_is_matched_and_drawn_by_the_service(page, url, images, tmp_path):
    tiff = str(tmp_path / "b.tif")
    cv2.imwrite(tiff, cv2.imread(images[1], cv2.IMREAD_GRAYSCALE))
    page.goto(url + "/")
    page.set_input_files("#file-a", images[0])
    page.set_input_files("#file-b", tiff)
    page.wait_for_function("!document.getElementById('match').disabled")
    assert "the service draws it" in page.inner_text("#drop-b .name")
    page.select_option("#geometry", "homography")
    page.click("#match")
    page.wait_for_function("document.getElementById('status').dataset.matches !== undefined", timeout=60000)
    status = page.inner_text("#status")
    assert re.search(r"verified by a homography spanning \d+ % of image a", status), status
    assert "drawn by the service" in status, status
    width = page.evaluate("document.getElementById('view').width")
    assert width > 480 and canvas_pixel(page, width // 4, 150)[3] == 255  # the picture is on the canvas


def test_a_new_file_clears_the_answers_about_the_old_one(page, url, images, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    page.goto(url + "/")
    page.set_input_files("#file-a", images[0])
    page.set_input_files("#file-b", images[1])
    page.wait_for_function("!document.getElementById('match').disabled")
    page.click("#match")
    page.wait_for_function("document.getElementById('status').dataset.matches !== undefined", timeout=60000)
    page.set_input_files("#file-b", str(bad))
    page.wait_for_function("document.querySelector('#drop-b .name').textContent.includes('bad.png')")
    assert page.get_attribute("#status", "data-matches") is None  # the old answer is gone
    page.click("#match")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Failed')", timeout=60000)
    assert "415" in page.inner_text("#status")
    assert page.get_attribute("#view", "data-drawn") == ""  # the images again, no lines of the old answer


def test_a_click_on_a_thing_that_moved_says_its_point_followed_a_second_motion(page, url, turned_block, tmp_path):
    a, b, inside, there, _ = turned_block
    cv2.imwrite(str(tmp_path / "a.png"), a)
    cv2.imwrite(str(tmp_path / "b.png"), b)
    page.goto(url + "/")
    page.set_input_files("#file-a", str(tmp_path / "a.png"))
    page.set_input_files("#file-b", str(tmp_path / "b.png"))
    page.wait_for_function("!document.getElementById('match').disabled")
    text = clicked(page, *inside[0])
    assert "following a second motion" in text and "guided by homography" in text, text
    got = [float(v) for v in re.search(r"-> \(([\d.]+), ([\d.]+)\) in b", text).groups()]
    assert np.hypot(*(np.array(got) - there[0])) < 3, (text, there[0])


def aimed(page, x: float, y: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Where to click for point (x, y) of image a (the API's pixel coordinates: (0, 0) the centre
    of the top-left pixel), and the point of a that click stands for: Chromium reports a click in
    whole CSS pixels, rounded down, so the click goes a quarter pixel past the whole one under the
    point."""
    width, height, w, h = page.evaluate("[document.getElementById('view').width, document.getElementById('view')"
                                        ".height, state.bitmaps.a.width, state.bitmaps.a.height]")
    if page.get_attribute("#view", "data-layout") == "side by side":  # at the canvas's height, widths whole
        sx, sy = round(w * height / h) / w, height / h
    else:  # a above b at the canvas's width, heights whole
        sx, sy = width / w, round(h * width / w) / h
    box = page.locator("#view").bounding_box()
    across, down = box["width"] / width, box["height"] / height  # CSS pixels a canvas pixel
    kx = math.floor(box["x"] + (x + 0.5) * sx * across)
    ky = math.floor(box["y"] + (y + 0.5) * sy * down)
    return (kx + 0.25, ky + 0.25), ((kx - box["x"]) / across / sx - 0.5, (ky - box["y"]) / down / sy - 0.5)


def clicked(page, x: float, y: float) -> str:
    """Click point (x, y) of image a on the page (``aimed``) and return the transfer line it gives."""
    (cx, cy), _ = aimed(page, x, y)
    page.evaluate("document.getElementById('transfer').textContent = ''")
    page.mouse.click(cx, cy)
    page.wait_for_function("document.getElementById('transfer').textContent.includes('score')", timeout=60000)
    return page.inner_text("#transfer")


def test_a_click_on_a_shown_pixel_asks_for_that_pixel_of_a(page, url, coffee, tmp_path):
    """A photo taller than the page shows it (937 x 700 shown 750 x 560: a shown pixel 1.249 of its
    pixels across, 1.25 down): a click asks the API for the point of a under it, pixel centres at
    whole coordinates (near its pixel (600, 450), not 0.5-0.8 px right of and below it)."""
    a = cv2.resize(coffee, (937, 700), interpolation=cv2.INTER_LINEAR)
    for name in "ab":
        cv2.imwrite(str(tmp_path / f"{name}.png"), a)
    opened(page, url, tmp_path)
    _, meant = aimed(page, 600, 450)
    text = clicked(page, 600, 450)
    asked = [float(v) for v in re.search(r"\(([\d.]+), ([\d.]+)\) in a", text).groups()]
    assert asked == pytest.approx(meant, abs=0.06) and meant == pytest.approx([600, 450], abs=1.3), (text, meant)
    # the outer half of a corner pixel asks for that pixel, not for a point outside the image (422)
    box = page.locator("#view").bounding_box()
    page.evaluate("document.getElementById('transfer').textContent = ''")
    page.mouse.click(box["x"] + 0.25, box["y"] + 0.25)
    page.wait_for_function("['in b', 'Failed'].some(w => document.getElementById('transfer').textContent.includes(w))",
                           timeout=60000)
    assert page.inner_text("#transfer").startswith("(0.0, 0.0) in a"), page.inner_text("#transfer")


def test_wide_images_lie_one_above_the_other_and_a_click_on_a_finds_its_point_in_b(page, url, coffee, tmp_path):
    """Two overlapping strips of a photo, 840 x 200 each, b 360 px further right: side by side
    they would show 148 px high on this page; a above b shows both at their own size. A click on a
    asks for the point under it, and its transfer lands 360 px to the left in b, drawn on b below."""
    big = cv2.resize(coffee, (1200, 800), interpolation=cv2.INTER_LINEAR)
    cv2.imwrite(str(tmp_path / "a.png"), big[300:500, :840])
    cv2.imwrite(str(tmp_path / "b.png"), big[300:500, 360:])
    opened(page, url, tmp_path)
    assert page.get_attribute("#view", "data-layout") == "a above b"
    assert page.evaluate("(c => [c.width, c.height])(document.getElementById('view'))") == [840, 400]
    _, meant = aimed(page, 600, 120)
    text = clicked(page, 600, 120)
    asked = [float(v) for v in re.search(r"\(([\d.]+), ([\d.]+)\) in a", text).groups()]
    got = [float(v) for v in re.search(r"-> \(([\d.]+), ([\d.]+)\) in b", text).groups()]
    assert asked == pytest.approx(meant, abs=0.06) and np.hypot(got[0] - (asked[0] - 360), got[1] - asked[1]) < 2, text
    colour = canvas_pixel(page, got[0] + 0.5, 200 + got[1] + 0.5)  # b's point, on b's part of the canvas
    confidence = float(re.search(r"confidence ([\d.]+)", text).group(1))
    want = render.confidence_colour(confidence)[::-1]  # as render=png draws it (B, G, R there)
    assert np.abs(np.subtract(colour[:3], want)).max() <= 6, (colour, want, text)


def test_a_point_carried_to_an_unrelated_image_is_drawn_grey_not_by_its_score(page, url, coffee, noise, tmp_path):
    """b is noise: nothing verifies the point and it carries no confidence, so the page draws it
    grey, as render=png does, whatever its feature score (it was drawn in the colour of a point
    whose round trip came back)."""
    cv2.imwrite(str(tmp_path / "a.png"), coffee)
    cv2.imwrite(str(tmp_path / "b.png"), noise)
    opened(page, url, tmp_path)
    text = clicked(page, 300, 200)
    assert not re.search(r"confidence [\d.]", text) and "without a confidence" in text, text
    got = [float(v) for v in re.search(r"-> \(([\d.]+), ([\d.]+)\) in b", text).groups()]
    x, y = page.evaluate(f"toCanvas('b', {got[0]}, {got[1]})")
    colour = canvas_pixel(page, x + 3, y)  # inside the dot, off a cross's arms
    assert np.abs(np.subtract(colour[:3], render.GREY)).max() <= 6, (colour, text)


def test_on_a_phone_wide_page_nothing_overflows_and_two_photos_lie_one_above_the_other(browser, url, images):
    """A 400 px wide page: the header wraps rather than running off the side, and two 480 x 320
    photos (122 px high side by side) lie one above the other across the page's width."""
    page = browser.new_page(viewport={"width": 400, "height": 800})
    try:
        page.goto(url + "/")
        page.set_input_files("#file-a", images[0])
        page.set_input_files("#file-b", images[1])
        page.wait_for_function("!document.getElementById('match').disabled")
        assert page.evaluate("document.documentElement.scrollWidth") <= 400
        assert page.get_attribute("#view", "data-layout") == "a above b"
        assert page.locator("#view").bounding_box()["width"] > 300
    finally:
        page.close()


def test_a_click_on_a_point_the_homography_puts_outside_b_says_so(page, url, images):
    """The fixture's homography takes a's bottom-right corner past b's right edge (to x = 488 of
    480): the transfer holds it at b's border and the page says so; a point inside says nothing."""
    page.goto(url + "/")
    page.set_input_files("#file-a", images[0])
    page.set_input_files("#file-b", images[1])
    page.wait_for_function("!document.getElementById('match').disabled")
    outside = clicked(page, 478, 316)
    assert "outside b (held at its border)" in outside and "guided by homography" in outside, outside
    inside = clicked(page, 200, 150)
    assert "outside b" not in inside and "guided by homography" in inside, inside


def test_a_click_in_a_scene_with_depth_says_whether_the_plane_or_the_epipolar_line_placed_it(page, url, tmp_path):
    """The Aloe stereo pair: a fundamental matrix guides, with the homography among the same
    matches beside it. The page says, point by point, which of the two placed it, as the API
    answers (asked first for 40 points, of which the test clicks one of each)."""
    pair = real(lambda: pairs.load("aloe"))
    sent = uploads(pair)
    for name, (_, data) in zip("ab", sent.values(), strict=True):
        (tmp_path / f"{name}.png").write_bytes(data)
    pts, _ = visible_points(pair, 40, np.random.default_rng(0))
    near = np.array([[0, 0], [-2, 0], [2, 0], [0, -2], [0, 2]])  # a click lands within a pixel or two
    asked = (pts[:, None] + near).reshape(-1, 2)
    body = httpx.post(url + "/v1/keypoints/transfer", files=sent, timeout=120,
                      data={"keypoints": json.dumps(asked.tolist())}).json()
    assert body["guidance"] == "fundamental", (body["guidance"], body["warnings"], body.get("prealigned"))
    plane = np.array([k["by_plane"] for k in body["keypoints"]]).reshape(len(pts), len(near))
    alike = (plane == plane[:, :1]).all(axis=1)  # the same answer all around the point
    page.goto(url + "/")
    page.set_input_files("#file-a", str(tmp_path / "a.png"))
    page.set_input_files("#file-b", str(tmp_path / "b.png"))
    page.wait_for_function("!document.getElementById('match').disabled")
    for said, put in (("by the plane", True), ("by its epipolar line", False)):
        text = clicked(page, *pts[np.flatnonzero(alike & (plane[:, 0] == put))[0]])
        assert said in text and "guided by fundamental" in text, text


def medinet(tmp_path) -> tuple[dict, np.ndarray, np.ndarray]:
    """Medinet Habu's court as a fisheye (a.png) and a stereographic image (b.png) in ``tmp_path``:
    the two as sent, 40 of a's points and their truth in b."""
    pair = real(lambda: lenses.load("medinet"))
    for name, img in zip("ab", (pair.a, pair.b), strict=True):
        cv2.imwrite(str(tmp_path / f"{name}.png"), img)
    pts, truth = lenses.points(pair, 40, np.random.default_rng(0))
    sent = {side: (f"{side}.png", (tmp_path / f"{side[-1]}.png").read_bytes()) for side in ("image_a", "image_b")}
    return sent, pts, truth


def opened(page, url: str, tmp_path) -> None:
    """The page with ``tmp_path``'s a.png and b.png chosen, ready to match."""
    page.goto(url + "/")
    page.set_input_files("#file-a", str(tmp_path / "a.png"))
    page.set_input_files("#file-b", str(tmp_path / "b.png"))
    page.wait_for_function("!document.getElementById('match').disabled")


def test_a_click_on_a_fisheye_says_a_local_map_placed_its_point(page, url, tmp_path):
    """Medinet Habu's court as a fisheye (a) and a stereographic image (b): the page says which
    points went where a local map of the matches around them puts them, as the API answers, and
    puts one of them where the two projections' truth does."""
    sent, pts, truth = medinet(tmp_path)
    near = np.array([[0, 0], [-2, 0], [2, 0], [0, -2], [0, 2]])  # a click lands within a pixel or two
    body = httpx.post(url + "/v1/keypoints/transfer", files=sent, timeout=120,
                      data={"keypoints": json.dumps((pts[:, None] + near).reshape(-1, 2).tolist())}).json()
    local = np.array([bool(k.get("local_warp")) for k in body["keypoints"]]).reshape(len(pts), len(near))
    pick = np.flatnonzero(local.all(axis=1))[0]
    opened(page, url, tmp_path)
    text = clicked(page, *pts[pick])
    assert "by a local map of the matches around it" in text and "guided by homography" in text, text
    got = [float(v) for v in re.search(r"-> \(([\d.]+), ([\d.]+)\) in b", text).groups()]
    assert np.hypot(*(np.array(got) - truth[pick])) < 4, (text, truth[pick])


def test_a_click_guided_by_the_dense_alignment_says_b_was_brought_onto_a_first(page, url, tmp_path):
    """Medinet again, the transfer guided by the dense alignment: the page asks method=align, says
    the MRF's field was solved with b brought onto a (the stereographic image is about half the
    fisheye's scale) and puts a point where the API's answer lies, near the projections' truth,
    with the confidence the API gave the page."""
    sent, pts, truth = medinet(tmp_path)
    body = httpx.post(url + "/v1/keypoints/transfer", files=sent, timeout=120,
                      data={"keypoints": json.dumps(pts.tolist()), "method": "align"}).json()
    got = np.array([[k["x"], k["y"]] for k in body["keypoints"]])
    pick = int(np.argmin(np.linalg.norm(got - truth, axis=1)))
    opened(page, url, tmp_path)
    page.select_option("#transfer-geometry", "align")
    with page.expect_response(lambda r: "/v1/keypoints/transfer" in r.url) as answered:
        text = clicked(page, *pts[pick])  # the click lands a few hundredths of a pixel from the point
    assert "guided by align" in text and "b brought onto a first (scale 0.56" in text, text
    assert f"confidence {answered.value.json()['keypoints'][0]['confidence']:.2f}" in text, text
    at = [float(v) for v in re.search(r"-> \(([\d.]+), ([\d.]+)\) in b", text).groups()]
    assert np.hypot(*(np.array(at) - truth[pick])) < 4, (text, truth[pick])


def test_match_waits_for_both_images_to_be_drawn(page, url, tmp_path):
    """A large image a takes this browser longer to decode than a small b picked just after: Match
    turns on only once both are drawn (it turned on with b, the canvas still empty, and a Match
    then was drawn by the service as if this browser could not show a)."""
    rng = np.random.default_rng(0)
    big = cv2.resize(rng.integers(0, 255, (300, 450, 3), np.uint8), (4500, 3000), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "a.png"), big)
    cv2.imwrite(str(tmp_path / "b.png"), big[:240, :320])
    page.goto(url + "/")
    page.set_input_files("#file-a", str(tmp_path / "a.png"))
    page.set_input_files("#file-b", str(tmp_path / "b.png"))
    page.wait_for_function("!document.getElementById('match').disabled")
    assert page.evaluate("document.getElementById('view').width") > 0
    assert "4500x3000" in page.inner_text("#drop-a .name")


def test_a_page_seen_from_its_side_is_found_in_a_copy_and_the_page_says_so(page, url, tmp_path):
    """The text page's b seen 70 degrees from its side: matched, a point clicked and aligned, the
    status and transfer lines say the geometry was found in a copy of a seen from the side (as the
    API's answers do), and the point lands where the view's truth puts it."""
    p = real(lambda: pairs.tilted(pairs.load("text"), 70))
    for name, img in zip("ab", (p.a, p.b), strict=True):
        cv2.imwrite(str(tmp_path / f"{name}.png"), img)
    opened(page, url, tmp_path)
    page.click("#match")
    page.wait_for_function("document.getElementById('status').dataset.matches !== undefined", timeout=60000)
    side = "in a copy of image a seen from the side: squeezed 2x along 0 degrees"
    status = page.inner_text("#status")
    assert "verified by a homography" in status and f"found {side}" in status, status
    pts, truth = visible_points(p, 10, np.random.default_rng(0))
    text = clicked(page, *pts[0])
    assert f"guided by homography, found {side}" in text, text
    at = [float(v) for v in re.search(r"-> \(([\d.]+), ([\d.]+)\) in b", text).groups()]
    assert np.hypot(*(np.array(at) - truth[0])) < 5, (text, truth[0])
    page.click("#align")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Alignment shown')",
                           timeout=120000)
    status = page.inner_text("#status")
    assert "b brought onto a first (scale 0.35" in status and f"its guide found {side}" in status, status
