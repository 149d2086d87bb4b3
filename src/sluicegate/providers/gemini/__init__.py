"""The Gemini API's wire format, shared by the two providers that speak it.

google_ai_studio.py and google_vertex_ai.py are the providers (each its host, key header and
upstream URL, and a registry line); what they share lives here, so it is written once:
- adapter.py: `GeminiAPI`, the `Provider` base of both (routes, usage, end markers, the `?key=`
  query parameter) and `usage` from `usageMetadata`;
- conversation.py: what the semantic cache compares in a body (`contents`, `generationConfig`);
- stream.py: a streamed `generateContent` answer read back as one response;
- compat.py, compat_request.py: the unified endpoint's translation, OpenAI chat ⇄
  `generateContent`, with Google's error shape (`{"error": {"code", "message", "status"}}`) read
  in compat.py. Only Google AI Studio offers it: Vertex AI's paths need a project and a location
  the OpenAI request has no place for (`VertexAI.compat_target` is None);
- texts.py: the text of `generateContent` bodies and streams that guardrails read (`GEMINI_TEXTS`).
"""

from sluicegate.providers.gemini.adapter import GeminiAPI, Target, usage

__all__ = ["GeminiAPI", "Target", "usage"]
