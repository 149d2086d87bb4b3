"""Guardrails: detectors of personal data, secrets and prompt injection; redaction with
placeholders that can be restored; a filter for streamed text; and the reading and rewriting of
the texts a provider's `TextFormat` finds in its bodies. Pure functions and small objects, no I/O:
the pipeline decides when to call them."""
