"""What providers' refusals say of the key (providers/key_errors.py), read off the bodies they send,
and what each does to the key on an inference route and elsewhere (pipeline/key_verdicts.py)."""

from __future__ import annotations

import orjson
import pytest

from sluicegate.pipeline.key_verdicts import Verdict, verdict
from sluicegate.providers.key_errors import KeySaid, key_said

OPENAI_SCOPES = (
    "You have insufficient permissions for this operation. Missing scopes: api.usage.read. Check that you"
    " have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and"
    " if you're using a restricted API key, that it has the necessary scopes."
)


def openai_error(message: str, code: str | None = None, type_: str = "invalid_request_error") -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})


def google_error(code: int, message: str, status: str, reason: str) -> bytes:
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}
    return orjson.dumps({"error": {"code": code, "message": message, "status": status, "details": [info]}})


BODIES: dict[str, tuple[bytes, KeySaid]] = {
    "OpenAI: a wrong key": (
        openai_error("Incorrect API key provided: sk-proj-****abcd. You can find your API key at"
                     " https://platform.openai.com/account/api-keys.", "invalid_api_key"),
        KeySaid.INVALID,
    ),
    "OpenAI: its account deactivated": (
        openai_error("The OpenAI account associated with this API key has been deactivated.",
                     "account_deactivated"),
        KeySaid.INVALID,
    ),
    "Groq: a wrong key": (openai_error("Invalid API Key", "invalid_api_key"), KeySaid.INVALID),
    "Anthropic: a wrong key": (
        b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},'
        b'"request_id":"req_011CXw8h8A796q3f74Ezmhav"}',
        KeySaid.INVALID,
    ),
    "DeepSeek: a wrong key": (
        openai_error("Authentication Fails, Your api key: ****abcd is invalid", "invalid_request_error",
                     "authentication_error"),
        KeySaid.INVALID,
    ),
    "Google AI Studio: a wrong key (a 400)": (
        google_error(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT",
                     "API_KEY_INVALID"),
        KeySaid.INVALID,
    ),
    "Cohere: a wrong key": (b'{"message":"invalid api token"}', KeySaid.INVALID),
    "Hugging Face: a wrong key": (
        b'{"error":"Invalid credentials in Authorization header"}', KeySaid.INVALID,
    ),
    "Anthropic: an error event opening a stream": (
        b'event: error\ndata: {"type":"error","error":{"type":"authentication_error",'
        b'"message":"invalid x-api-key"}}\n\n',
        KeySaid.INVALID,
    ),
    "OpenAI: a restricted key without a scope": (openai_error(OPENAI_SCOPES), KeySaid.DENIED),
    "OpenAI: an OAuth token without a scope": (orjson.dumps({"error": OPENAI_SCOPES}), KeySaid.DENIED),
    "Anthropic: a permission it lacks": (
        b'{"type":"error","error":{"type":"permission_error","message":"Your API key does not have'
        b' permission to use the specified resource."}}',
        KeySaid.DENIED,
    ),
    "Hugging Face: a fine-grained token short of a permission": (
        b'{"error":"This authentication method does not have sufficient permissions to call Inference'
        b' Providers on behalf of user someone"}',
        KeySaid.DENIED,
    ),
    "Google: permission denied": (
        google_error(403, "Permission denied on resource project other-project.", "PERMISSION_DENIED",
                     "CONSUMER_INVALID"),
        KeySaid.DENIED,
    ),
    "Azure: a key, or the endpoint the client named, wrong": (
        b'{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API'
        b' endpoint. Make sure to provide a valid key for an active subscription and use a correct'
        b' regional API endpoint for your resource."}}',
        KeySaid.UNSAID,
    ),
    "Google: an API key on a method that takes OAuth only": (
        google_error(401, "API keys are not supported by this API. Expected OAuth2 access token or other"
                     " authentication credentials that assert a principal.", "UNAUTHENTICATED",
                     "CREDENTIALS_MISSING"),
        KeySaid.UNSAID,
    ),
    "Mistral: unauthorized": (b'{"message":"Unauthorized","request_id":"c61f2f15feca71626a990e3740f99245"}',
                              KeySaid.UNSAID),
    "Cloudflare: authentication error (a permission it lacks too)": (
        b'{"errors":[{"code":10000,"message":"Authentication error"}],"success":false,"result":null}',
        KeySaid.UNSAID,
    ),
    "OpenAI: a project without the model": (
        openai_error("Project `proj_abc` does not have access to model `o3-pro`", "model_not_found"),
        KeySaid.UNSAID,
    ),
    "an HTML page": (b"<html><body><h1>401 Authorization Required</h1></body></html>", KeySaid.UNSAID),
    "nothing": (b"", KeySaid.UNSAID),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BODIES))
def test_what_a_body_says_of_the_key(case: str) -> None:
    body, said = BODIES[case]
    assert key_said(body) is said


INVALID, DENIED, UNSAID = (BODIES[case][0] for case in ("Groq: a wrong key", "OpenAI: a restricted key"
                           " without a scope", "Mistral: unauthorized"))  # fmt: skip


@pytest.mark.parametrize(
    ("status", "body", "inference", "judged"),
    [
        (401, INVALID, True, Verdict.DISABLE),
        (400, BODIES["Google AI Studio: a wrong key (a 400)"][0], True, Verdict.DISABLE),
        (401, INVALID, False, Verdict.REST),  # an admin endpoint may call a valid key invalid
        (401, DENIED, True, Verdict.PASS),
        (403, DENIED, False, Verdict.PASS),
        (401, UNSAID, True, Verdict.REST),
        (403, UNSAID, True, Verdict.REST),
        (401, UNSAID, False, Verdict.PASS),
        (403, UNSAID, False, Verdict.PASS),
        (400, UNSAID, True, Verdict.PASS),
        (429, UNSAID, False, Verdict.COOL),
        (500, INVALID, True, Verdict.PASS),
    ],
)
def test_what_an_answer_does_to_its_key(status: int, body: bytes, inference: bool, judged: Verdict) -> None:
    assert verdict(status, body, inference) is judged
