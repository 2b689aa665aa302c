"""``python -m service``: serve on HOST:PORT (the settings, validated first) with uvicorn; in-flight
requests get 20 s to finish on SIGTERM; uvicorn's access lines end with the request id."""
from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from service.config import Settings
from service.request_id import uvicorn_log_config


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        sys.exit(f"invalid settings (environment variables are the fields in capitals):\n{exc}")
    uvicorn.run("service.main:create_app", factory=True, host=settings.host, port=settings.port,
                timeout_graceful_shutdown=20, log_config=uvicorn_log_config())


if __name__ == "__main__":
    main()
