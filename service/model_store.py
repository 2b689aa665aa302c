"""Where trained keypoint models live: in process (the embedded default, bounded in count) or in
Redis when REDIS_URL is set, so every replica behind a load balancer serves every model. Redis
holds ``kpmodel:<id>`` (the model's bytes) and the hash ``kpmodels`` (id -> JSON summary), with
no TTL: models are data a user created and deletes. Each replica keeps the models it has used in
process as well, so a Redis outage stops new models and listings (503), not predictions, and a
Redis that comes back empty (restarted without persistence, or evicting) is refilled from those
copies as they are used. A delete leaves a tombstone ``kpmodel-deleted:<id>`` (a week), so no
replica's copy brings a deleted model back.

Summaries are checked when read (``valid_info``): an entry that is not what this service writes
(not JSON, a field missing) is skipped with a log line and counted in ``rejected``, so one bad
entry cannot break the listing for everyone. Each summary names its ``owner`` (the API key that
created the model, hashed), which the routes compare."""
from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict

from pydantic import ValidationError

from service.errors import ServiceError
from service.redis_conn import REDIS_ERRORS, connect
from service.schemas import KeypointModelInfo

log = logging.getLogger("service.model_store")


def valid_info(raw: bytes | str | dict, where: str) -> dict | None:
    """A stored summary as a dict when it is one this service wrote (with its owner), else None."""
    try:
        info = json.loads(raw) if isinstance(raw, bytes | str) else raw
        KeypointModelInfo.model_validate(info)
        if not isinstance(info.get("owner", ""), str):
            raise ValueError("owner")
        return info
    except (ValueError, TypeError, ValidationError) as exc:
        log.warning("keypoint model summary %s skipped: %s", where, exc.__class__.__name__)
        return None


class StoreUnavailable(ServiceError):
    status, code = 503, "store_unavailable"
    headers = {"Retry-After": "1"}


class MemoryStore:
    """Up to ``max_models`` models; the least recently used goes first."""

    backend = "memory"

    def __init__(self, max_models: int):
        self.max_models = max_models
        self._models: OrderedDict[str, tuple[bytes, dict]] = OrderedDict()
        self._lock = threading.Lock()
        self.rejected = 0  # stored records refused as malformed (summaries or models)

    def put(self, model_id: str, payload: bytes, info: dict) -> None:
        with self._lock:
            self._models[model_id] = (payload, info)
            self._models.move_to_end(model_id)
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)

    def get(self, model_id: str) -> tuple[bytes, dict] | None:
        with self._lock:
            hit = self._models.get(model_id)
            if hit is not None:
                self._models.move_to_end(model_id)
            return hit

    def list(self) -> list[dict]:
        with self._lock:
            return [info for _, info in self._models.values()]

    def delete(self, model_id: str) -> bool:
        with self._lock:
            return self._models.pop(model_id, None) is not None

    def close(self) -> None:
        self._models.clear()


class RedisStore(MemoryStore):
    backend = "redis"
    INDEX = "kpmodels"
    TOMBSTONE_S = 7 * 24 * 3600

    def __init__(self, url: str, timeout_s: float, max_models: int):
        super().__init__(max_models)  # this replica's copies
        self.url, self.timeout = url, timeout_s
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = connect(self.url, self.timeout)
        return self._client

    def _call(self, op: str, fn):
        try:
            return fn()
        except REDIS_ERRORS:
            raise StoreUnavailable(f"the model store (Redis) is unavailable for {op}; retry shortly") from None

    def put(self, model_id: str, payload: bytes, info: dict) -> None:
        self._call("saving", lambda: (self.client.delete(f"kpmodel-deleted:{model_id}"),
                                      self.client.set(f"kpmodel:{model_id}", payload),
                                      self.client.hset(self.INDEX, model_id, json.dumps(info))))
        super().put(model_id, payload, info)

    def get(self, model_id: str) -> tuple[bytes, dict] | None:
        local = super().get(model_id)
        try:
            info = self.client.hget(self.INDEX, model_id)
            if info is not None and local is not None:
                return local
            if info is None:
                if local is None or self.client.exists(f"kpmodel-deleted:{model_id}"):
                    super().delete(model_id)  # deleted, perhaps through another replica
                    return None
                self.put(model_id, *local)  # Redis lost it (restart, eviction): put this copy back
                return local
            payload = self.client.get(f"kpmodel:{model_id}")
        except REDIS_ERRORS:
            if local is not None:  # Redis is out: this replica's copy still serves
                return local
            raise StoreUnavailable("the model store (Redis) is unavailable for reading; retry shortly") from None
        parsed = valid_info(info, model_id)
        if payload is None or parsed is None:
            self.rejected += parsed is None
            return None
        super().put(model_id, payload, parsed)
        return payload, parsed

    def list(self) -> list[dict]:
        found = self._call("listing", lambda: self.client.hgetall(self.INDEX))
        out = []
        for key, raw in sorted(found.items()):
            info = valid_info(raw, key.decode(errors="replace"))
            self.rejected += info is None
            if info is not None:
                out.append(info)
        return out

    def delete(self, model_id: str) -> bool:
        here = super().delete(model_id)
        self._call("deleting", lambda: self.client.set(f"kpmodel-deleted:{model_id}", b"1", ex=self.TOMBSTONE_S))
        listed = self._call("deleting", lambda: self.client.hdel(self.INDEX, model_id))
        self._call("deleting", lambda: self.client.delete(f"kpmodel:{model_id}"))
        return here or bool(listed)

    def close(self) -> None:
        super().close()
        if self._client is not None:
            self._client.close()
