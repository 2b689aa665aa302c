"""The README stays a newcomer's screen whose statements hold: its routes exist, its commands run,
its links lead somewhere."""
import re
import shlex
from pathlib import Path

from fastapi.testclient import TestClient

from service.cli import parser
from service.config import Settings
from service.main import create_app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_it_is_a_screen_with_the_two_commands():
    assert len(README.splitlines()) <= 120
    assert "make run" in README and "make test" in README


def test_every_route_it_names_exists():
    with TestClient(create_app(Settings())) as c:
        paths = set(c.get("/openapi.json").json()["paths"]) | {"/docs", "/metrics", "/", "/openapi.json"}
    named = set(re.findall(r"`(?:GET |POST )?(/v1/[a-z/-]+|/healthz|/readyz|/metrics|/docs)`", README))
    named |= set(re.findall(r"localhost:8000(/v1/[a-z/-]+)", README))
    assert named and all(any(p == n or p.startswith(n + "/") for p in paths) for n in named), named - paths


def test_every_corr_command_it_shows_parses():
    for line in re.findall(r"^corr (.+)$", README, re.M):
        parser().parse_args(shlex.split(line.split("#")[0]))


def test_every_link_leads_somewhere():
    for target in re.findall(r"\]\(((?:docs|service)/[^)#]+)\)", README):
        assert (ROOT / target).exists(), target
