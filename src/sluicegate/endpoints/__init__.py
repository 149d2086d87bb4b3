"""HTTP in, HTTP out: each module turns aiohttp requests into pipeline calls or admin actions."""
