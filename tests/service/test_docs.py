"""The API's documentation: served by the app, nothing from a CDN, usable with an API key."""
import re

from tests.conftest import make_client


def test_swagger_ui_is_served_offline_and_usable_with_a_key():
    with make_client(api_keys="k") as c:
        page = c.get("/docs")  # no key needed to read the documentation
        assert page.status_code == 200
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
        assert urls and all(u.startswith("/") for u in urls), urls  # nothing from another host
        for u in urls:
            assert c.get(u).status_code == 200, u
        schema = c.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["ApiKeyHeader"] == {"type": "apiKey", "in": "header",
                                                                           "name": "X-API-Key"}
        assert {"ApiKeyHeader": []} in schema["paths"]["/v1/correspondences"]["post"]["security"]
        assert "security" not in schema["paths"]["/healthz"]["get"]
        assert c.get("/v1/models").status_code == 401  # the API itself still needs one


def test_every_setting_is_in_the_configuration_table_with_its_default():
    from pathlib import Path

    from service.config import Settings
    text = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    rows = {r.split("|")[1].strip(" `"): r.split("|")[2].strip(" `") for r in text.splitlines()
            if r.startswith("| `")}
    for name, field in Settings.model_fields.items():
        assert name.upper() in rows, name
        default = "unset" if field.default is None else str(field.default)
        assert name == "models_dir" or rows[name.upper()] == default, (name, rows[name.upper()], default)


def test_the_schema_names_the_headers_every_answer_carries():
    """X-Request-ID on every answer of every route; the RateLimit fields where a limit counts the
    route (with RATE_LIMIT_PER_MINUTE set), not on health."""
    with make_client(warm_up=False) as c:
        paths = c.get("/openapi.json").json()["paths"]
    answers = [a for ops in paths.values() for op in ops.values() for a in op["responses"].values()]
    assert answers and all(a["headers"]["X-Request-ID"]["required"] for a in answers)
    assert not any("RateLimit-Remaining" in a["headers"] for a in answers)
    with make_client(warm_up=False, rate_limit_per_minute=100) as c:
        paths = c.get("/openapi.json").json()["paths"]
    assert "RateLimit-Remaining" in paths["/v1/correspondences"]["post"]["responses"]["200"]["headers"]
    assert "RateLimit-Remaining" in paths["/v1/correspondences"]["post"]["responses"]["429"]["headers"]
    assert "RateLimit-Remaining" not in paths["/healthz"]["get"]["responses"]["200"]["headers"]
