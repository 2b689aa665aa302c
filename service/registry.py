"""The model registry: whatever models/weights/manifest.json lists, loaded into batching ONNX
Runtime sessions at start-up (never at import), each file checked against its sha256.

Provider choice: CUDA (or TensorRT, when asked) only when the GPU driver is really there;
onnxruntime-gpu lists the CUDA provider even on a machine without a GPU, and asking for it there
fills the log with errors. A CPU fallback is logged once.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import onnxruntime as ort

from service.config import Settings
from service.errors import UnknownModel
from service.manifest import ManifestEntry
from service.names import MODEL_NAME
from service.worker import BatchingSession, on_gpu

log = logging.getLogger("service.registry")
NAME = re.compile(MODEL_NAME)


def gpu_driver_present() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


def choose_providers(wanted: str) -> list[str]:
    available = ort.get_available_providers()
    gpu = gpu_driver_present()
    if wanted in ("auto", "cuda", "tensorrt") and gpu and "CUDAExecutionProvider" in available:
        chain = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if wanted == "tensorrt" and "TensorrtExecutionProvider" in available:
            chain.insert(0, "TensorrtExecutionProvider")
        return chain
    if wanted != "cpu":
        # said once, at start-up; loud only when a GPU was asked for explicitly
        log.log(logging.INFO if wanted == "auto" else logging.WARNING,
                "PROVIDER=%s: no usable GPU (CUDA driver found: %s), running on the CPU", wanted, gpu)
    return ["CPUExecutionProvider"]


@dataclass
class LoadedModel:
    """One manifest entry and its sessions (``decision`` for descriptor models)."""
    entry: ManifestEntry
    main: BatchingSession
    decision: BatchingSession | None = None

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def kind(self) -> str:
        return self.entry.kind

    @property
    def provider(self) -> str:
        return self.main.session.get_providers()[0]


@dataclass
class Registry:
    models: dict[str, LoadedModel] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, kinds: tuple[str, ...]) -> LoadedModel:
        model = self.models.get(name)
        if model is None or model.kind not in kinds:
            names = sorted(n for n, m in self.models.items() if m.kind in kinds)
            raise UnknownModel(f"no {' or '.join(kinds)} model named {name!r}; available: {', '.join(names)}")
        return model

    def close(self) -> None:
        for m in self.models.values():
            m.main.close()
            if m.decision:
                m.decision.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def session_options(settings: Settings) -> ort.SessionOptions:
    """Options of every session: threads and spinning from the settings, and denormals treated
    as zero, so that weights with subnormal values (a user's network, say) cannot slow the
    service down many times on x86 CPUs that compute them in microcode."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = settings.ort_threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if settings.ort_spinning else "0")
    opts.add_session_config_entry("session.set_denormal_as_zero", "1")
    return opts


def load(settings: Settings) -> Registry:
    """Load every model of the manifest. A missing or corrupt file is recorded in ``errors``
    (so /readyz says so) instead of stopping the others."""
    reg = Registry()
    manifest = settings.models_dir / "manifest.json"
    try:
        entries = json.loads(manifest.read_text())["models"]
    except (OSError, ValueError, KeyError) as exc:
        reg.errors["manifest"] = f"cannot read {manifest}: {exc.__class__.__name__}"
        log.error("%s", reg.errors["manifest"])
        return reg
    providers = choose_providers(settings.provider)
    opts = session_options(settings)

    def session(file: str, digest: str, name: str, entry: ManifestEntry | None) -> BatchingSession:
        path = settings.models_dir / file
        if not NAME.match(file) or sha256(path) != digest:
            raise ValueError(f"{file} does not match its sha256 in the manifest")
        sess = ort.InferenceSession(str(path), opts, providers=providers)
        bind = settings.io_binding == "on" or (settings.io_binding == "auto" and on_gpu(sess))
        # a pair scored over N views is N forward items: a batch holds MAX_BATCH items, not pairs
        items = max(1, settings.max_batch // (entry.views if entry else 1))
        pixels = settings.dense_batch_pixels if entry and entry.kind == "dense" else None
        return BatchingSession(sess, items, settings.max_wait_ms, settings.max_queue, settings.inference_timeout_s,
                               name, bind, pixels)

    for raw in entries:
        name = raw.get("name", "?") if isinstance(raw, dict) else "?"
        try:
            e = ManifestEntry.model_validate(raw)
            main = session(e.file, e.sha256, name, e)
            dec = None
            if e.kind == "descriptor":
                if not (e.decision_file and e.decision_sha256):
                    raise ValueError("a descriptor model needs decision_file and decision_sha256")
                dec = session(e.decision_file, e.decision_sha256, name + ".decide", None)
            reg.models[name] = LoadedModel(e, main, dec)
        except Exception as exc:  # one broken model must not take the others down
            reg.errors[name] = f"{exc.__class__.__name__}: {str(exc)[:300]}"
            log.error("model %s not loaded: %s", name, reg.errors[name])
    ran = sorted({m.provider for m in reg.models.values()})
    if any(p != providers[0] for p in ran):
        # onnxruntime-gpu falls back to the next provider by itself when it cannot load one's
        # libraries (a CUDA or cuDNN of another major version, or none; no TensorRT), saying so
        # only in its own log
        log.warning("PROVIDER=%s: ONNX Runtime could not start %s (its CUDA, cuDNN or TensorRT libraries are "
                    "missing or of another version: its own error above names them), running on %s",
                    settings.provider, providers[0], ", ".join(ran))
    log.info("loaded %d models on %s", len(reg.models), ", ".join(ran) or "no provider")
    return reg
