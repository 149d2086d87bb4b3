"""Guardrails: detectors of personal data, secrets and prompt injection; redaction with
placeholders that can be restored; a filter for streamed text; and walkers over the request
bodies of the API shapes the gateway knows. Pure functions and small objects, no I/O: the
pipeline decides when to call them."""
