"""The service's log lines: each ends with the id of the request it was written for (``[-]``
outside one), or, with LOG_FORMAT=json, is one JSON object (``time``: ISO 8601 in UTC,
``level``, ``logger``, ``message``, ``request_id``; ``exception`` with a traceback; uvicorn's
access lines add ``client``, ``method``, ``path`` (with its query) and ``status``) for a log
collector to index.

Every log record gets ``request_id`` from ``service.request_id`` when it is made, whichever
logger or thread makes it, so any formatter may name it.
"""
from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime

from uvicorn.config import LOGGING_CONFIG

from service.request_id import CURRENT

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s [%(request_id)s]"
ACCESS = ("client", "method", "path", "http_version", "status")  # uvicorn's access record's arguments


class JsonLines(logging.Formatter):
    """One JSON object a line."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(), "level": record.levelname,
               "logger": record.name, "message": record.getMessage(),
               "request_id": getattr(record, "request_id", "-")}
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == len(ACCESS):
            out |= {k: v for k, v in zip(ACCESS, record.args, strict=True) if k != "http_version"}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def stamp_records() -> None:
    """Give every log record made from now on its ``request_id`` (once per process)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "stamps_request_id", False):
        return

    def stamped(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        record.request_id = CURRENT.get()
        return record
    stamped.stamps_request_id = True
    logging.setLogRecordFactory(stamped)


def install(json_lines: bool = False) -> None:
    """Stamp records and give the root logger a handler in the chosen format, unless it has one
    already (then its format is its owner's: a test harness, an embedding application)."""
    stamp_records()
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if json_lines else logging.Formatter(TEXT))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def uvicorn_config(json_lines: bool = False) -> dict:
    """uvicorn's own logging configuration, its lines in the chosen format: the access lines end
    with the request id, or all are JSON objects."""
    config = copy.deepcopy(LOGGING_CONFIG)
    if json_lines:
        for name in ("default", "access"):
            config["formatters"][name] = {"()": "service.logs.JsonLines"}
    else:
        config["formatters"]["access"]["fmt"] += " [%(request_id)s]"
    return config
