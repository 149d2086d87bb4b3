"""A database or cache URL as it may be shown: in an error, the banner, a log line.

Such a URL can carry secrets in two places: the userinfo's password (`redis://:pw@host`) and the
query, which libpq and Redis clients read `password=`, `sslpassword=` and others from. Only
`scheme://[user@]host:port/path` is shown; a query is shown as `?…`. A URL that is malformed is the
likeliest to be printed (it is why start-up failed), so what cannot be told apart from userinfo is
masked too: everything before the last `@`, wherever urlsplit put it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MASK = "***"


def redact_url(url: str) -> str:
    """`url` without its password or query values; see the module's docstring."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket: nothing can be told apart
        return f"{url.partition(':')[0]}:{MASK}" if ":" in url else MASK
    head = f"{parts.scheme}:" if parts.scheme else ""
    rest = url[len(head) :]
    # What precedes the query and fragment, as urlsplit cut them (the scheme's own slashes kept).
    before = rest.split("?", 1)[0].split("#", 1)[0] if parts.query or parts.fragment else rest
    if "@" in f"{parts.query}#{parts.fragment}":
        # A '?' or '#' inside a password cut the userinfo short: nothing before it is safe to show.
        return f"{head}{rest[: len(rest) - len(rest.lstrip('/'))]}{MASK}"
    body = before.lstrip("/")
    slashes = before[: len(before) - len(body)]  # as given: `redis:/host` shows its one slash
    if "@" in body:
        userinfo, _, after = body.rpartition("@")
        # A clean authority keeps its user name; else the userinfo spilled into the path.
        clean = "@" in parts.netloc and "/" not in userinfo
        user = userinfo.split(":", 1)[0] if clean else ""
        shown = f"{user}:{MASK}" if ":" in userinfo or not clean else user
        body = f"{shown}@{after}"
    query = "?…" if parts.query else ""
    return f"{head}{slashes}{body}{query}"
