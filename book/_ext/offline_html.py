"""Keep the built book self-contained: no page loads or names a script from the internet.

Jupyter Book 1.x always enables sphinx-thebe (live code through Binder), which registers an inline
script holding a CDN address for thebe, twice (the second copy redeclares a ``const``, a console
error), plus its loader and stylesheet. The book is read offline and has no live code, so this
extension drops those assets, and any other script or stylesheet that points at a remote URL.
"""
from __future__ import annotations

import re

REMOTE = re.compile(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", re.IGNORECASE)
THEBE_ASSETS = ("sphinx-thebe.js", "sphinx-thebe.css")


def _remote(asset) -> bool:
    filename = str(getattr(asset, "filename", None) or "")
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return bool(REMOTE.match(filename) or REMOTE.search(body)) or filename.endswith(THEBE_ASSETS)


def _strip_remote_assets(app, pagename, templatename, context, doctree) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not _remote(a)]


def setup(app):
    app.connect("html-page-context", _strip_remote_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
