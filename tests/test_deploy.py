"""Deployment files, checked without a Docker engine: hadolint on the Dockerfiles, the compose file
against the Compose specification's schema, and the operational policies we promise."""
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize("dockerfile", ["docker/Dockerfile", "docker/Dockerfile.gpu"])
def test_hadolint_is_clean(dockerfile):
    r = run("hadolint", dockerfile)
    assert r.returncode == 0, r.stdout + r.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:latest\nRUN cd /tmp && pip install flask\n")
    assert run("hadolint", "Dockerfile", cwd=tmp_path).returncode != 0


def test_compose_matches_the_compose_spec(tmp_path):
    r = run("check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    bad = tmp_path / "compose.yml"
    bad.write_text("services:\n  api:\n    ports: 8000\n    restart: sometimes\n")
    assert run("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(bad)).returncode != 0


def test_compose_policies():
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    redis = spec["redis"]
    assert "ports" not in redis  # never published
    cmd = redis["command"]
    assert "--requirepass" in cmd and "allkeys-lru" in cmd and "--maxmemory" in cmd
    for api in ("api", "api-gpu"):
        env = spec[api]["environment"]
        assert "${REDIS_PASSWORD" in env["REDIS_URL"] and env["API_KEYS"].startswith("${API_KEYS:?")
        assert env["RATE_LIMIT_PER_MINUTE"] and env["METRICS_PUBLIC"] == "false"
    gpu = spec["api-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_the_gpu_image_has_the_cuda_its_onnx_runtime_was_built_for():
    """onnxruntime-gpu's CUDA provider loads only with the CUDA major version (and cuDNN) it was
    built against, named by its package's extras; with another it runs on the CPU."""
    needs = " ".join(metadata.requires("onnxruntime-gpu") or [])
    cuda = re.search(r"nvidia-cuda-runtime[^0-9]*(\d+)\.", needs)
    cudnn = re.search(r"nvidia-cudnn-cu\d+[^0-9]*(\d+)\.", needs)
    assert cuda and cudnn, needs
    image = (ROOT / "docker/Dockerfile.gpu").read_text()
    base = re.search(r"^FROM nvidia/cuda:(\d+)\.\d+\.\d+-cudnn(\d*)-runtime", image, re.M)
    assert base and base[1] == cuda[1], (base and base[0], cuda[0])
    assert cudnn[1] == "9" and base[2] in ("", "9")  # the CUDA 12.x and 13.x images' cudnn is cuDNN 9


@pytest.mark.parametrize("dockerfile", ["docker/Dockerfile", "docker/Dockerfile.gpu"])
def test_images_run_as_non_root_with_models_and_healthcheck(dockerfile):
    text = (ROOT / dockerfile).read_text()
    assert "USER 10001" in text and "HEALTHCHECK" in text and "COPY models/weights/" in text
    assert 'CMD ["python", "-m", "service"]' in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "data" in ignored and "models" not in ignored
