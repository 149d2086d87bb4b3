"""Translators for the unified OpenAI-compatible endpoint, `/v1/{account}/{gateway}/compat/...`.

One module per backend (`anthropic.py`, `google_ai_studio.py`, `workers_ai.py`); OpenAI-compatible
providers need none, their requests pass through unchanged.
"""
