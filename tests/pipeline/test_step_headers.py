"""A universal step's header values as Cloudflare's `AIGatewayHeaders` type allows them, read as the
text a header carries (pipeline/step_headers.py)."""

from __future__ import annotations

import pytest

from sluicegate.errors import BadRequest
from sluicegate.pipeline import resolve, step_headers
from sluicegate.pipeline.step_headers import header_texts


def test_the_request_headers_a_step_reads_are_named_as_the_request_stage_names_them() -> None:
    # Written out in step_headers.py: resolve.py imports steps.py, which imports it.
    assert step_headers.METADATA_HEADER == resolve.METADATA_HEADER
    assert step_headers.COLLECT_LOG_HEADER == resolve.COLLECT_LOG_HEADER


def test_numbers_booleans_and_objects_are_their_json_text() -> None:
    sent = {
        "cf-aig-cache-ttl": 3600,
        "cf-aig-request-timeout": 5000.0,
        "x-ratio": 0.25,
        "cf-aig-skip-cache": True,
        "cf-aig-collect-log": False,
        "cf-aig-metadata": {"team": "AI", "n": 1},
        "Authorization": "Bearer sk",
    }
    assert header_texts(2, sent) == {
        "cf-aig-cache-ttl": "3600",
        "cf-aig-request-timeout": "5000",
        "x-ratio": "0.25",
        "cf-aig-skip-cache": "true",
        "cf-aig-collect-log": "false",
        "cf-aig-metadata": '{"team":"AI","n":1}',
        "Authorization": "Bearer sk",
    }
    assert header_texts(0, ["not", "an", "object"]) == ["not", "an", "object"]  # for the schema to refuse


def test_an_array_is_refused_naming_the_step_and_the_header_not_its_value() -> None:
    with pytest.raises(BadRequest) as refused:
        header_texts(3, {"x-keys": ["sk-secret"]})
    assert refused.value.message.startswith("step 3: headers.x-keys: a header's value is a string,")
    assert "sk-secret" not in refused.value.message
    assert refused.value.details["field"] == "headers.x-keys"
