"""The web UI: its built assets (`dist/`, made from `web/` by Vite) and how the API serves them."""

from chunkyard.web.static import DIST_DIR, install_web

__all__ = ["DIST_DIR", "install_web"]
