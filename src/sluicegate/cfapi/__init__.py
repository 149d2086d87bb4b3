"""Cloudflare's AI Gateway management API, served under `/client/v4` over the native admin API.

A translation layer only: each route parses Cloudflare's request, calls the operation the native
`/api/v1` route calls (same store, directory, guard and audit trail), and answers in Cloudflare's
envelope and field names. The contract is the official `cloudflare` Python SDK (5.9.0); what is
served, how each field maps and what is refused is in docs/cloudflare-api.md.
"""

from sluicegate.cfapi.routes import PREFIX, cloudflare_api

__all__ = ["PREFIX", "cloudflare_api"]
