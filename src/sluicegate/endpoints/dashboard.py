"""The dashboard: static files shipped in the package (`sluicegate/dashboard/`), served under `/dashboard/`.

No build step and no Node at run time: plain HTML, ES modules and CSS, and uPlot vendored as one
file. The files are read once, when the routes are added. Each answer carries an ETag (browsers
revalidate, and get a 304 while nothing changed) and a Content-Security-Policy that lets the page
load and call nothing but this gateway. The page calls the admin API under `/api/v1` with the
token the person signs in with.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.abc import Traversable
from importlib.resources import files

from aiohttp import web

from sluicegate.endpoints.system import not_found

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate every time: an upgraded gateway serves new files at once
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def add_dashboard_routes(app: web.Application) -> None:
    """`/dashboard` (redirects to `/dashboard/`) and the files under it; add before any catch-all route."""
    assets = load_assets(files("sluicegate") / "dashboard")

    async def to_index(request: web.Request) -> web.Response:
        # Relative, so the page also works behind a proxy that mounts the gateway under a prefix.
        raise web.HTTPFound("dashboard/")

    async def asset(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["path"] or "index.html")
        if found is None:
            return await not_found(request)
        headers = {"ETag": found.etag, **SECURITY_HEADERS}
        if found.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=found.body, headers={"Content-Type": found.content_type, **headers})

    app.router.add_get("/dashboard", to_index)
    app.router.add_get("/dashboard/{path:.*}", asset)


def load_assets(root: Traversable, prefix: str = "") -> dict[str, Asset]:
    """Every file under `root` by its relative path (`vendor/uPlot.iife.min.js`)."""
    assets: dict[str, Asset] = {}
    for entry in root.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            assets.update(load_assets(entry, name + "/"))
        elif not entry.name.startswith("."):
            body = entry.read_bytes()
            suffix = "." + entry.name.rpartition(".")[2]
            content_type = CONTENT_TYPES.get(suffix, "application/octet-stream")
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            assets[name] = Asset(body, content_type, etag)
    return assets
