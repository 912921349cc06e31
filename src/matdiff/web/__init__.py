"""matdiff's local web page and JSON API: `matdiff serve` (needs the `web` extra: pip install "matdiff[web]").

The API is described in docs/web.md; `create_app()` returns the Starlette application.
"""

from __future__ import annotations

__all__ = ["create_app", "serve"]


def create_app(*args, **kwargs):
    """The Starlette application (see matdiff.web.server.create_app)."""
    from .server import create_app as create

    return create(*args, **kwargs)


def serve(host: str = "127.0.0.1", port: int = 8000, **kwargs) -> None:
    """Serve the page at http://host:port/ until interrupted."""
    from .server import serve as run

    run(host=host, port=port, **kwargs)
