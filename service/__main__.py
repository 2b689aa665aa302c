"""``python -m service``: serve on HOST:PORT (the settings, validated first) with uvicorn; in-flight
requests get 20 s to finish on SIGTERM; uvicorn's lines in LOG_FORMAT (``service.logs``)."""
from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from service import logs
from service.config import Settings


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        sys.exit(f"invalid settings (environment variables are the fields in capitals):\n{exc}")
    logs.stamp_records()  # before uvicorn's formatters first name the request id
    uvicorn.run("service.main:create_app", factory=True, host=settings.host, port=settings.port,
                timeout_graceful_shutdown=20, log_config=logs.uvicorn_config(settings.log_format == "json"))


if __name__ == "__main__":
    main()
