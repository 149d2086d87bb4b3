"""Finding the values `credentials.Secrets` collects, and masking them, in text and bytes.

A value is looked for in every form it may be written in (as is, percent-encoded, JSON-escaped).
A key (`credentials.KEY_HEADERS`; one token, no whitespace: not `Bearer sk-…`, whose key is searched
for alone) is also masked where only its start is written, from `CUT_MASKED` characters on: a quote
cut off, but only when that start is its own (`cuttable`: not a JWT's, not of a few characters).
A close frame's reason is at most 123 bytes (RFC 6455 §5.5.1) and an OpenAI project key about 164
characters, so an upstream that quotes its key in one always cuts it; a provider may cut the key
an error quotes as well. `CUT_MASKED` is past the starts keys share (`sk-proj-`, `sk-ant-api03-`),
so a match holds some of the key's own characters, and a key holds no space, so no phrase matches
it. A value that is no key (a cookie, a header flagged only by its name, `add_value`: a guardrail's
restored text, an `X-Title`) is masked only whole: its start may be ordinary text.

Cost: each group of forms that share their first `CUT_MASKED` characters is looked for by that
start alone (a form shorter than that, or masked only whole, by itself): text that quotes nothing
costs one substring search per group, no more than one per form did. Where a start is found, one
compiled `re` substitution (`_agreeing_pattern`, cached with the forms) masks every match as far as
a form goes on agreeing, in C: a text holding the start many times (a client can send its own
key's) costs no Python per match, about what `bytes.replace` of the start does.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, AnyStr, Generic, NamedTuple
from urllib.parse import quote, quote_plus

import orjson

# Values shorter than this are masked where they travel but not searched for elsewhere: a short
# value would wipe ordinary words out of bodies, and no provider issues keys that short.
MIN_SCRUBBED = 8
CUT_MASKED = 16  # characters of a credential's start that mask it where a text cuts it off

# Starts that many credentials share and that say nothing of the one at hand: a JWT's (`eyJ`, its
# header `{"` in base64) holds its algorithm, a public fact the next JWT shares (`eyJhbGciOiJIUzI1`).
SHARED_STARTS = ("eyJ",)
MIN_VARIED = 6  # distinct characters a credential's start must hold to be masked cut off
_CHAIN = 16  # characters matched as one step of a cut pattern (`_agreeing_pattern`)
_LEVELS = 128  # at most this many nested steps: `re` parses a pattern recursively


class Group(NamedTuple, Generic[AnyStr]):
    """Forms looked for by one probe: the probe alone, masked only whole (`forms` empty); or the
    start the `forms` (longest first) share, masked from there as far as one of them agrees."""

    probe: AnyStr
    forms: tuple[AnyStr, ...] = ()
    pattern: re.Pattern[AnyStr] | None = None  # the probe, then as much of a form as agrees
    recurs: bool = False  # a match may run over another probe (`_recurs`)


class Written(NamedTuple):
    """Every written form of a set of values, longest first, and their groups, as bytes and text."""

    forms: tuple[bytes, ...]
    text_forms: tuple[str, ...]
    groups: tuple[Group[bytes], ...]
    text_groups: tuple[Group[str], ...]
    probes: tuple[bytes, ...]  # text holds something to mask if and only if it holds one of these


@lru_cache(maxsize=1024)  # a request carries the same key (or keys) as many before it
def all_written_forms(values: frozenset[tuple[str, bool]]) -> Written:
    """The forms of `values`, each a value and whether it is masked where cut off too (then only
    if its start is its own: see `cuttable`)."""
    cut: dict[bytes, bool] = {}
    for value, credential in values:
        for form in _written_forms(value):
            cut[form] = cut.get(form, False) or (credential and cuttable(value))
    forms = tuple(sorted(cut, key=len, reverse=True))
    text_forms = tuple(form.decode("utf-8", "surrogatepass") for form in forms)
    groups = _groups([(form, cut[form]) for form in forms])
    probes = [group.probe for group in groups]
    least = tuple(probe for probe in probes if not any(other in probe for other in probes if other != probe))
    text_groups = _groups(
        [(form, cut[bytes_form]) for form, bytes_form in zip(text_forms, forms, strict=True)]
    )
    return Written(forms, text_forms, groups, text_groups, least)


def cuttable(value: str) -> bool:
    """Whether `value`'s first `CUT_MASKED` characters are its own, so masking where only they are
    written masks nothing else: not a start many values share, nor one of a few characters."""
    start = value[:CUT_MASKED]
    return len(value) > CUT_MASKED and not start.startswith(SHARED_STARTS) and len(set(start)) >= MIN_VARIED


def masked(data: AnyStr, groups: tuple[Group[AnyStr], ...], mask: AnyStr, more: bool = False) -> AnyStr:
    """`data` with every form of `groups` masked, whole or (a credential's) cut off; but, when
    `more` may follow `data` (a stream's chunk), a start cut off by its end (see `_mask_starts`)."""
    for group in groups:
        if group.probe in data:
            if group.pattern is None:
                data = data.replace(group.probe, mask)
            else:
                data = _mask_starts(data, group, mask, more)
    return data


def _mask_starts(data: AnyStr, group: Group[AnyStr], mask: AnyStr, more: bool) -> AnyStr:
    """`data` masked from each probe found to where the form that goes furthest stops agreeing, by
    one `re` substitution: no Python runs per match, however many a text holds. It is handed only
    the span from the first probe to the end of the last match (`find` outruns its scan), or on to
    the end where a form holds its probe again (a match may then run over the next probe). With
    `more`, a form's start that runs to the end is left as it is: the next chunk may complete it
    into a longer form (`Bearer sk-…`, masked whole), and the stream holds it back till then."""
    assert group.pattern is not None
    first = data.find(group.probe)
    hold = _held(data, group, first) if more else len(data)
    last = data.rfind(group.probe, first, hold)
    end = hold
    if last >= 0 and not group.recurs:
        match = group.pattern.match(data, last)
        assert match is not None  # the pattern is the probe, then what may follow it
        end = match.end()
    return data[:first] + group.pattern.sub(mask, data[first:end]) + data[end:]


def _held(data: AnyStr, group: Group[AnyStr], first: int) -> int:
    """Where the match that runs to the end of `data` and a form goes on past starts, if one does
    (else its length): from the first probe in the reach of the longest form, a bounded search."""
    at = data.find(group.probe, max(first, len(data) - len(group.forms[0])))
    while at >= 0:
        match = group.pattern.match(data, at) if group.pattern else None
        if (
            match
            and match.end() == len(data)
            and any(len(form) > len(match[0]) and form.startswith(match[0]) for form in group.forms)
        ):
            return at
        at = data.find(group.probe, at + 1)
    return len(data)


def _groups(forms: list[tuple[AnyStr, bool]]) -> tuple[Group[AnyStr], ...]:
    """`forms` (longest first) grouped by their first `CUT_MASKED` characters (or bytes), those
    masked where cut; in the order of their longest form (a value holding another is masked whole)."""
    starts: dict[AnyStr, list[AnyStr]] = {}
    order: list[tuple[AnyStr, list[AnyStr] | None]] = []
    for form, cut in forms:
        if not cut or len(form) <= CUT_MASKED:
            order.append((form, None))
            continue
        start = form[:CUT_MASKED]
        if start not in starts:
            starts[start] = []
            order.append((start, starts[start]))
        starts[start].append(form)
    return tuple(
        Group(probe)
        if grouped is None
        else Group(
            probe,
            tuple(grouped),
            _agreeing_pattern(probe, grouped),
            _recurs(probe, grouped),
        )
        for probe, grouped in order
    )


def _recurs(probe: AnyStr, forms: list[AnyStr]) -> bool:
    """Whether a match may run over another probe: a form holds the probe again, or the probe
    overlaps itself (two in a text may share characters)."""
    overlaps = any(probe.startswith(probe[at:]) for at in range(1, len(probe)))
    return overlaps or any(form.find(probe, 1) >= 0 for form in forms)


def _agreeing_pattern(probe: AnyStr, forms: list[AnyStr]) -> re.Pattern[AnyStr]:
    """`probe`, then as much of any of `forms` (each starting with it) as a text agrees with."""
    if isinstance(probe, str):
        return re.compile(_agreeing(probe, [str(form) for form in forms]))
    # Bytes as the code points of their values (Latin-1): the same pattern, written back as bytes.
    text = _agreeing(probe.decode("latin-1"), [bytes(form).decode("latin-1") for form in forms])
    return re.compile(text.encode("latin-1"))


def _agreeing(probe: str, forms: list[str]) -> str:
    """The pattern of `_agreeing_pattern`. The forms' rests make a trie; each run of characters
    along it is one step, `(?:run(?:next)?|run[:-1]|…|run[:1])?`: the run whole and whatever
    follows, else its longest start that agrees. A node's branches start with different characters,
    so at most one goes on, and each step tries the longest first: the match is the longest
    agreement, found in linear time, backtracking at most a run's length per step."""
    trie: dict[str, Any] = {}
    for form in forms:
        node = trie
        for char in form[len(probe) :]:
            node = node.setdefault(char, {})
    longest = max(len(form) for form in forms) - len(probe)
    chain = max(_CHAIN, -(-longest // _LEVELS))  # a long credential: longer runs, as many levels

    def steps(node: dict[str, Any]) -> str:
        branches: list[str] = []
        for run, child in node.items():
            while len(child) == 1 and len(run) < chain:
                ((char, child),) = child.items()
                run += char
            branches.append(re.escape(run) + steps(child))
            branches += [re.escape(run[:length]) for length in range(len(run) - 1, 0, -1)]
        return f"(?:{'|'.join(branches)})?" if branches else ""

    return re.escape(probe) + steps(trie)


@lru_cache(maxsize=1024)  # the same few keys come again and again
def _written_forms(value: str) -> frozenset[bytes]:
    """How `value` may be written down: as is, percent-encoded, or in a JSON string escaped as
    orjson, Python's `json` (non-ASCII as `\\u` escapes) or Go (`<`, `>`, `&` too) write it."""
    forms = {
        value.encode("utf-8", "surrogatepass"),
        quote(value, safe="").encode(),
        quote_plus(value, safe="").encode(),
    }
    for escaped in (orjson.dumps(value)[1:-1], json.dumps(value)[1:-1].encode()):
        forms.add(escaped)
        forms.add(escaped.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026"))
    return frozenset(form for form in forms if len(form) >= MIN_SCRUBBED)
