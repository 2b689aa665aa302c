"""Inputs a person gets wrong: each answered with a 422 that says what to send."""
import base64
import json

import numpy as np
import pytest

from service.imaging import b64decode
from tests.conftest import encode

PHOTO = encode(np.tile(np.arange(96, dtype=np.uint8), (80, 1)))


@pytest.mark.parametrize("variant", ["wrapped", "urlsafe", "unpadded", "urlsafe-unpadded"])
def test_base64_as_the_tools_print_it_is_accepted(variant):
    data = bytes(range(256)) * 5 + b"\xfb\xff"
    text = (base64.urlsafe_b64encode if "urlsafe" in variant else base64.b64encode)(data).decode()
    if variant == "wrapped":  # as `base64` prints it: 76 characters a line
        text = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))
    if "unpadded" in variant:
        text = text.rstrip("=")
    assert b64decode(text, 10**6) == data


def test_base64_errors_name_the_problem(client):
    cases = {"https://example.com/a.png": "is a URL", "abc$def": "'$' is not base64", "abcde": "length or padding"}
    for text, words in cases.items():
        r = client.post("/v1/patches/descriptors", json={"patches": [text]})
        assert r.status_code == 422 and words in r.json()["detail"], (text, r.json())


def test_json_to_a_multipart_route_says_multipart(client):
    r = client.post("/v1/correspondences", json={"image_a": "x", "image_b": "y"})
    assert r.status_code == 422 and "multipart/form-data" in r.json()["detail"] and "-F image_a=@" in r.json()["detail"]


def test_a_misspelled_field_is_named_not_ignored(client):
    files = {"image_a": ("a.png", PHOTO), "image_b": ("b.png", PHOTO)}
    r = client.post("/v1/correspondences", files=files, data={"geometri": "homography"})
    assert r.status_code == 422
    assert "unknown form field geometri" in r.json()["detail"] and "geometry" in r.json()["detail"]


def test_a_file_field_sent_as_text_says_to_use_the_at_sign(client):
    r = client.post("/v1/correspondences", files={"image_b": ("b.png", PHOTO)}, data={"image_a": "a.jpg"})
    assert r.status_code == 422 and "-F image_a=@" in r.json()["detail"]


def test_prior_sigma_far_below_its_range_is_refused(client):
    r = client.post("/v1/keypoint-models/" + "0" * 24 + "/predict", files={"image": ("a.png", PHOTO)},
                    data={"prior_sigma": "1e-30"})
    assert r.status_code == 422 and json.dumps(r.json()).count("prior_sigma") >= 1


@pytest.mark.parametrize("route,field", [("/v1/align", "alpha"), ("/v1/align", "truncation"),
                                         ("/v1/correspondences", "ratio")])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_number_that_is_not_finite_is_refused_as_such(client, route, field, value):
    """Not by a bound it happens to fail ("less than or equal to 10" said nothing of NaN)."""
    files = {"image_a": ("a.png", PHOTO), "image_b": ("b.png", PHOTO)}
    r = client.post(route, files=files, data={field: value})
    assert r.status_code == 422 and "finite" in json.dumps(r.json()["detail"]), r.json()
