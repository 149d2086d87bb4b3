"""Finding the values `credentials.Secrets` collects, and masking them, in text and bytes.

A value is looked for in every form it may be written in (as is, percent-encoded, JSON-escaped).
A credential (one token, no whitespace: a key, not `Bearer sk-…`, whose key is searched for alone)
is also masked where only its start is written, from `CUT_MASKED` characters on: a quote cut off.
A close frame's reason is at most 123 bytes (RFC 6455 §5.5.1) and an OpenAI project key about 164
characters, so an upstream that quotes its key in one always cuts it; a provider may cut the key
an error quotes as well. `CUT_MASKED` is past the starts keys share (`sk-proj-`, `sk-ant-api03-`),
so a match holds some of the key's own characters, and a credential holds no space, so no phrase
matches it. A value that is no credential (`add_value`: a guardrail's restored text, an `X-Title`)
is masked only whole, its start being no secret.

Cost: each group of forms that share their first `CUT_MASKED` characters is looked for by that
start alone (a form shorter than that, or masked only whole, by itself): text that quotes nothing
costs one substring search per group, no more than one per form did. Only where a start is found
is the match followed as far as a form goes on agreeing.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import AnyStr, NamedTuple
from urllib.parse import quote, quote_plus

import orjson

# Values shorter than this are masked where they travel but not searched for elsewhere: a short
# value would wipe ordinary words out of bodies, and no provider issues keys that short.
MIN_SCRUBBED = 8
CUT_MASKED = 16  # characters of a credential's start that mask it where a text cuts it off

# A group: its probe, and the forms that start with it (longest first); None: the probe is the
# one form, masked only whole.
Group = tuple[AnyStr, tuple[AnyStr, ...] | None]


class Written(NamedTuple):
    """Every written form of a set of values, longest first, and their groups, as bytes and text."""

    forms: tuple[bytes, ...]
    text_forms: tuple[str, ...]
    groups: tuple[Group[bytes], ...]
    text_groups: tuple[Group[str], ...]
    probes: tuple[bytes, ...]  # text holds something to mask if and only if it holds one of these


@lru_cache(maxsize=1024)  # a request carries the same key (or keys) as many before it
def all_written_forms(values: frozenset[tuple[str, bool]]) -> Written:
    """The forms of `values`, each a value and whether it is masked where cut off too."""
    cut: dict[bytes, bool] = {}
    for value, credential in values:
        for form in _written_forms(value):
            cut[form] = cut.get(form, False) or credential
    forms = tuple(sorted(cut, key=len, reverse=True))
    text_forms = tuple(form.decode("utf-8", "surrogatepass") for form in forms)
    groups = _groups([(form, cut[form]) for form in forms])
    probes = [probe for probe, _ in groups]
    least = tuple(probe for probe in probes if not any(other in probe for other in probes if other != probe))
    text_groups = _groups(
        [(form, cut[bytes_form]) for form, bytes_form in zip(text_forms, forms, strict=True)]
    )
    return Written(forms, text_forms, groups, text_groups, least)


def masked(data: AnyStr, groups: tuple[Group[AnyStr], ...], mask: AnyStr, more: bool = False) -> AnyStr:
    """`data` with every form of `groups` masked, whole or (a credential's) cut off; but, when
    `more` may follow `data` (a stream's chunk), a start cut off by its end (see `_mask_starts`)."""
    for probe, forms in groups:
        if probe in data:
            if forms is None:
                data = data.replace(probe, mask)
            else:
                data = _mask_starts(data, probe, forms, mask, more)
    return data


def _mask_starts(data: AnyStr, probe: AnyStr, forms: tuple[AnyStr, ...], mask: AnyStr, more: bool) -> AnyStr:
    """`data` masked from each `probe` found to where the form that goes furthest stops agreeing.
    With `more`, a form's start that runs to the end is left as it is: the next chunk may complete
    it into a longer form (`Bearer sk-…`, masked whole), and the stream holds it back till then."""
    pieces: list[AnyStr] = []
    done = 0
    at = data.find(probe)
    while at >= 0:
        agreed = [_agreeing(data, at, form) for form in forms]
        end = at + max(agreed)
        if more and end == len(data) and len(forms[agreed.index(max(agreed))]) > max(agreed):
            break
        pieces += [data[done:at], mask]
        done = end
        at = data.find(probe, done)
    pieces.append(data[done:])
    return data[:0].join(pieces)


def _agreeing(data: AnyStr, at: int, form: AnyStr) -> int:
    """How much of `form` `data` holds from `at` on (its probe, at least)."""
    if data.startswith(form, at):
        return len(form)
    length, most = CUT_MASKED, min(len(form), len(data) - at)
    while length < most and data[at + length] == form[length]:
        length += 1
    return length


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
    return tuple((probe, None if grouped is None else tuple(grouped)) for probe, grouped in order)


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
