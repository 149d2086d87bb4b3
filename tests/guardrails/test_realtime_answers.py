"""A realtime session's server events through the guardrails (`realtime/answer_guard.py`): the
model's text redacted as a streamed answer's is, whole texts alike, everything else untouched."""

from __future__ import annotations

import json
from typing import Any

from sluicegate.guardrails.placeholders import Vault
from sluicegate.guardrails.policy import parse_policy
from sluicegate.pipeline.guardrails import answer_pipes, compile_policy
from sluicegate.realtime.answer_guard import AnswerGuard

EMAIL_REDACTED = {"pii": {"action": "redact", "entities": ["email"], "direction": "response"}}
PART = {"response_id": "resp_1", "item_id": "msg_1", "output_index": 0, "content_index": 0}


def answer_guard(policy: dict[str, Any], vault: Vault | None = None) -> AnswerGuard:
    parsed = parse_policy(policy)
    return AnswerGuard(answer_pipes(compile_policy(parsed), vault or Vault(), restore=parsed.restore))


def event(kind: str, **fields: Any) -> str:
    return json.dumps({"event_id": "event_1", "type": kind, **fields})


def sent(guard: AnswerGuard, frame: str) -> list[dict[str, Any]]:
    return [json.loads(out) for out in guard.check(json.loads(frame)["type"], frame)]


def stream(
    guard: AnswerGuard, deltas: list[str], kind: str = "response.output_text", field: str = "text"
) -> str:
    """The deltas and their `.done` through `guard`; what a client adding up the deltas reads."""
    events = [e for delta in deltas for e in sent(guard, event(f"{kind}.delta", **PART, delta=delta))]
    events += sent(guard, event(f"{kind}.done", **PART, **{field: "".join(deltas)}))
    assert [e["type"] for e in events[:-1]] == [f"{kind}.delta"] * (len(events) - 1)
    assert all(e["item_id"] == "msg_1" and e["content_index"] == 0 for e in events)
    whole = "".join(e["delta"] for e in events[:-1])
    assert events[-1][field] == whole  # the `.done` repeats what the deltas added up to
    return whole


def test_an_address_split_across_deltas_is_redacted_and_never_sent_in_part() -> None:
    guard = answer_guard(EMAIL_REDACTED)
    deltas = ["Write to jane", ".doe@exa", "mple.com", " today."]
    assert stream(guard, deltas) == "Write to [EMAIL_1] today."
    # Found in the deltas, and again in the whole text the `.done` repeats: kept once.
    assert [(span.entity, span.detector) for span in guard.spans] == [("email", "email")]


def test_what_a_part_still_holds_at_its_done_goes_out_as_one_more_delta() -> None:
    guard = answer_guard(EMAIL_REDACTED)
    deltas = ["Mail ", "ops@example.com"]  # the address may still grow until the part ends
    events = [e for d in deltas for e in sent(guard, event("response.output_text.delta", **PART, delta=d))]
    assert "".join(e["delta"] for e in events) == "Mail "
    *before, done = sent(guard, event("response.output_text.done", **PART, text="Mail ops@example.com"))
    assert [(e["type"], e["delta"]) for e in before] == [("response.output_text.delta", "[EMAIL_1]")]
    assert before[0]["event_id"].startswith("event_gw_")
    assert done["text"] == "Mail [EMAIL_1]"


def test_audio_transcripts_and_the_beta_names_are_read_too() -> None:
    guard = answer_guard(EMAIL_REDACTED)
    whole = stream(guard, ["reach me at a@b", "c.io"], "response.output_audio_transcript", "transcript")
    assert whole == "reach me at [EMAIL_1]"
    assert stream(guard, ["or a@b", "c.io"], "response.text") == "or [EMAIL_1]"


def test_assistant_items_and_responses_are_redacted_whole_and_user_items_left() -> None:
    guard = answer_guard(EMAIL_REDACTED)
    said = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "me@x.org"}]}
    answer = {
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "output_text", "text": "Write to me@x.org"},
            {"type": "output_audio", "transcript": "or you@x.org"},
        ],
    }
    [added] = sent(guard, event("conversation.item.added", item=said))
    assert added["item"] == said
    [item] = sent(guard, event("response.output_item.done", response_id="r", output_index=0, item=answer))
    assert [part.get("text") or part.get("transcript") for part in item["item"]["content"]] == [
        "Write to [EMAIL_1]",
        "or [EMAIL_2]",
    ]
    [part] = sent(guard, event("response.content_part.done", **PART, part=answer["content"][0]))
    assert part["part"]["text"] == "Write to [EMAIL_1]"  # the same value, the same placeholder
    [done] = sent(guard, event("response.done", response={"id": "resp_1", "output": [answer, said]}))
    assert done["response"]["output"][0]["content"][0]["text"] == "Write to [EMAIL_1]"
    assert done["response"]["output"][1] == said


def test_a_response_that_ends_without_its_parts_done_sends_what_they_held() -> None:
    guard = answer_guard(EMAIL_REDACTED)
    events = sent(guard, event("response.output_text.delta", **PART, delta="at x@y.io"))
    assert events[0]["delta"] == "at "
    *before, done = sent(guard, event("response.done", response={"id": "resp_1", "status": "cancelled"}))
    assert [(e["type"], e["response_id"], e["delta"]) for e in before] == [
        ("response.output_text.delta", "resp_1", "[EMAIL_1]")
    ]
    assert done["type"] == "response.done"


def test_a_blocking_rule_redacts_in_a_session_and_flags_are_only_noted() -> None:
    policy = {
        "custom": [
            {"name": "project", "words": ["Falcon"], "action": "block", "direction": "response"},
            {"name": "codename", "words": ["Osprey"], "action": "flag", "direction": "response"},
        ]
    }
    guard = answer_guard(policy)
    assert stream(guard, ["Project Fal", "con and Osprey are on"]) == "Project [PROJECT_1] and Osprey are on"
    assert [span.entity for span in guard.flagged] == ["codename"]


def test_placeholders_of_the_clients_values_are_put_back_with_restore() -> None:
    vault = Vault()
    sent_upstream = vault.placeholder("email", "jane@example.com")  # as the client's event went up
    guard = answer_guard({"pii": {"action": "redact", "entities": ["email"]}, "restore": True}, vault)
    assert stream(guard, ["Writing to [EMA", sent_upstream[4:], " now"]) == "Writing to jane@example.com now"


def test_other_events_pass_as_they_came() -> None:
    guard = answer_guard(EMAIL_REDACTED)
    audio = event("response.output_audio.delta", **PART, delta="bWVAeC5vcmc=")
    assert guard.check("response.output_audio.delta", audio) == [audio]
    session = event("session.updated", session={"instructions": "me@x.org"})
    assert guard.check("session.updated", session) == [session]
    assert guard.check("response.output_text.delta", "{not json") == ["{not json"]


def test_a_long_session_keeps_what_was_found_not_every_text() -> None:
    guard = answer_guard(EMAIL_REDACTED)
    for n in range(200):
        answer = {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": f"{n}@x.org"}],
        }
        sent(guard, event("response.done", response={"id": f"resp_{n}", "output": [answer]}))
    assert [span.entity for span in guard.spans] == ["email"]
    assert guard._pipes.made == []  # the pipes of whole texts are not kept


def test_a_part_ended_by_its_content_part_done_sends_what_it_held_there_with_its_index() -> None:
    guard = answer_guard(EMAIL_REDACTED)
    at = {**PART, "output_index": 1}
    sent(guard, event("response.output_text.delta", **at, delta="to x@y.io"))
    part = {"type": "output_text", "text": "to x@y.io"}
    *before, done = sent(guard, event("response.content_part.done", **at, part=part))
    assert [(e["delta"], e["output_index"], e["content_index"]) for e in before] == [("[EMAIL_1]", 1, 0)]
    assert done["part"]["text"] == "to [EMAIL_1]"
    # Nothing is left for the item's or the response's end.
    assert len(sent(guard, event("response.done", response={"id": "resp_1", "output": []}))) == 1


def test_two_responses_at_once_keep_their_own_parts() -> None:
    guard = answer_guard(EMAIL_REDACTED)
    first = {**PART, "response_id": "resp_1", "item_id": "msg_1"}
    second = {**PART, "response_id": "resp_2", "item_id": "msg_2"}
    out: list[dict[str, Any]] = []
    for a, b in (("mail a@", "call b@"), ("x.io", "y.io")):
        out += sent(guard, event("response.output_text.delta", **first, delta=a))
        out += sent(guard, event("response.output_text.delta", **second, delta=b))
    out += sent(guard, event("response.output_text.done", **second, text="call b@y.io"))
    out += sent(guard, event("response.output_text.done", **first, text="mail a@x.io"))
    deltas = [e for e in out if e["type"].endswith(".delta")]
    assert "".join(e["delta"] for e in deltas if e["response_id"] == "resp_1") == "mail [EMAIL_2]"
    assert "".join(e["delta"] for e in deltas if e["response_id"] == "resp_2") == "call [EMAIL_1]"


def test_events_whose_text_is_unchanged_go_out_byte_for_byte() -> None:
    guard = answer_guard(EMAIL_REDACTED)
    created = (
        '{"type":"response.created","response":{"id":"r","output":[],"temperature":1e-05,"x":"\\u00e9"}}'
    )
    assert guard.check("response.created", created) == [created]
    delta = event("response.output_text.delta", **PART, delta="Hello, ")
    assert guard.check("response.output_text.delta", delta) == [delta]


def test_a_frame_whose_head_names_no_type_is_read_whole() -> None:
    guard = answer_guard(EMAIL_REDACTED)
    padded = json.dumps(
        {"padding": "." * 300, **PART, "delta": "x@y.io is it ", "type": "response.output_text.delta"}
    )
    [out] = guard.check("", padded)
    assert json.loads(out)["delta"] == "[EMAIL_1] is it "
