"""E-mail and IP addresses. IPs are checked by the `ipaddress` module, so `999.1.1.1`, times
(`12:30:45`) and MAC addresses pass; a dotted run longer than four parts is a version, not an IP.

An IP address that identifies no one passes: loopback (`127.0.0.1`, `::1`), unspecified
(`0.0.0.0`), link-local (`169.254.0.0/16`, `fe80::/10` unless its interface id is a MAC address,
EUI-64) and a network in CIDR notation (`10.0.0.0/8`). So does a dotted quad that a version
operator or word, or a chapter or section, comes just before (`requests==2.32.3.1`,
`version 1.0.0.1`, `sections 1.1.1.1 through 1.1.1.9`). Documentation ranges (`203.0.113.0/24`)
are redacted: examples stand in for real addresses.

An address may hold letters of any script (RFC 6531: `maría.garcía@correo.es`, `rené@société.fr`),
so it is matched whole rather than from its first ASCII letter on; but scripts written without
spaces (Han, Kana, Hangul) run into an address, so where the script changes between them and
others the address ends (`请发邮件到jane@example.com` is `jane@example.com`). An SSH remote, a
short lower-case user, a host and a path (`git@github.com:org/repo.git`), is no address; a port
or a password after the colon (`jane@example.com:8080`) does not make one."""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from collections.abc import Iterator

from .detector import ALNUM, CONTEXT, DIGITS, NO_NUMBER, Detector, before, compile_re2, is_in

LOCAL = ALNUM + b"._%+-"
# Every byte of a non-ASCII character, which may be a letter of an address.
NON_ASCII = bytes(range(0x80, 0x100))
EMAIL_ALPHABET = LOCAL + b"@:" + NON_ASCII  # `:` too: `user@host:path` is no address
LETTER = r"\p{L}\p{M}\p{N}"
# Scripts written without spaces between words, and every other letter (RE2 classes).
CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\x{30FC}"
OTHER = rf"(?:[^\P{{L}}{CJK}]|[\p{{M}}\p{{N}}._%+-])"  # RE2 nests no classes
# A local part is in one kind of script, or others then CJK (`jane用户`); a domain the other way.
LOCAL_PART = rf"(?:{OTHER}*[{CJK}._%+-]+|{OTHER}+)"
CJK_CHAR = compile_re2(f"[{CJK}]")
# What may still become a local part at the end of a stream's text (a prefix of LOCAL_PART).
LOCAL_TAIL = compile_re2(rf"{OTHER}*[{CJK}._%+-]*\z")
# The trailing run of what an address (or an SSH remote's host and colon) is written with.
EMAIL_RUN = compile_re2(rf"[{LETTER}._%+@:-]*\z")
LOCAL_MAX = 64  # octets (RFC 5321)
HEX = DIGITS + b"abcdefABCDEF"


def _word_char(char: str) -> bool:
    return char.isalnum() or unicodedata.category(char).startswith("M")


@functools.lru_cache(maxsize=4096)
def _cjk(char: str) -> bool:
    # No script written without spaces has a letter below Hangul's Jamo (U+1100).
    return ord(char) >= 0x1100 and bool(CJK_CHAR.search(char.encode()))


def _domain_end(data: bytes, at: int, end: int) -> int:
    """Where a domain read from `at` ends: at `end`, or where other letters give way to CJK
    (`example.comまで`)."""
    if data[at:end].isascii():
        return end
    text = data[at:end].decode()
    for index in range(1, len(text)):
        if _cjk(text[index]) and text[index - 1].isalnum() and not _cjk(text[index - 1]):
            return at + len(text[:index].encode())
    return end


# An SSH remote's path after `user@host:`: a path, or a repository (`org/repo.git`, `/srv/app`).
SSH_USER = re.compile(rb"[a-z][a-z0-9_-]{0,31}")
SSH_PATH = re.compile(rb"[A-Za-z0-9._%+-]*(?:/|\.git(?![A-Za-z0-9._%+-]))")


def _ssh_remote(local: bytes, data: bytes, end: int) -> bool:
    """`user@host:path`: a short lower-case user (git@, deploy@) and a path after the colon. Reads
    only bytes of EMAIL_ALPHABET (or the one that ends them), so a stream decides it alike."""
    if not (is_in(data, end, b":") and SSH_USER.fullmatch(local)):
        return False
    path = SSH_PATH.match(data, end + 1)
    return path is not None and not re.fullmatch(rb"[0-9]+/", path[0])  # a port, not a path


def _email(data: bytes, start: int, end: int) -> int | None:
    local, _, _ = data[start:end].partition(b"@")
    if len(local) > LOCAL_MAX:
        return None
    end = _domain_end(data, start + len(local) + 1, end)
    text = data[start:end].decode()
    # The match took every local-part character before the @, so anything address-like before it
    # means the scan began inside a longer token (a letter of the other kind of script does not).
    previous = before(data, start)[-1:]
    if previous and (previous in "._%+-@" or (_word_char(previous) and _cjk(previous) == _cjk(text[0]))):
        return None
    following = data[end : end + 4].decode(errors="ignore")[:1]
    if following and (following in "_%+-@" or (_word_char(following) and _cjk(following) == _cjk(text[-1]))):
        return None
    if _ssh_remote(local, data, end):
        return None
    labels = data[start + len(local) + 1 : end].split(b".")
    if local.startswith(b".") or local.endswith(b".") or b".." in local:
        return None
    if len(labels) < 2 or any(label.startswith(b"-") or label.endswith(b"-") for label in labels):
        return None
    tld = labels[-1].decode()
    return end if len(tld) >= 2 and tld.isalpha() else None


class EmailDetector(Detector):
    """Holds only what may still become part of an address: prose in a script without spaces is a
    long run of letters, but a domain ends where its script gives way to CJK and no local part
    is over 64 octets. An address needs its @: text without one is not scanned at all."""

    def scan(self, data: bytes) -> Iterator[tuple[int, int]]:
        return super().scan(data) if b"@" in data else iter(())

    def open_from(self, data: bytes) -> int:
        letters = EMAIL_RUN.search(data, super().open_from(data))
        run = letters.start() if letters else len(data)
        at = data.rfind(b"@", run)
        if at >= 0:
            ended = _domain_end(data, at + 1, len(data))
            if ended == len(data):
                return run  # an address may still be growing
            run = ended
        tail = LOCAL_TAIL.search(data, run)
        start = tail.start() if tail else len(data)
        return max(run, start, len(data) - LOCAL_MAX - CONTEXT)


# What makes a dotted quad a version or a section number: a version operator glued to it (not
# `=`, `host=10.0.0.1`, nor an arrow's `>`), or a word before it, and what it ends a list of.
# A bare `<` or `>` only right after a package name (`types-requests<2.31.0.7`), not after a tag's
# name (`<td>93.184.216.34`) nor as a bracket (`client=<93.184.216.34>`).
VERSIONED = re.compile(
    r"(?:[=!~<>]=|~>|\^|(?:^|(?<=[\s`'\"(\[,;]))[A-Za-z0-9][A-Za-z0-9._-]*(?<![-.])[<>]"
    r"|(?:\b(?i:v|version|framework|chapter|sections?)|§)[ \t]*[:#]?[ \t]*"
    r"(?:[0-9][0-9.]*[ \t]*(?:,[ \t]*(?:and|or)?|and|or|to|through|-)[ \t]*)*)\Z"
)


def _private_use(address: ipaddress.IPv4Address | ipaddress.IPv6Address, data: bytes, end: int) -> bool:
    """An address that identifies no one: loopback, unspecified, link-local (an IPv6 one unless
    its interface id is a MAC address), or a network named with its prefix length."""
    if address.is_loopback or address.is_unspecified:
        return True
    if address.is_link_local:
        return address.version == 4 or address.packed[11:13] != b"\xff\xfe"
    prefix = re.match(rb"/([0-9]{1,3})(?![0-9])", data[end : end + 5])
    if prefix is None or int(prefix[1]) >= address.max_prefixlen:
        return False
    try:
        ipaddress.ip_network(f"{address}/{int(prefix[1])}")  # strict: no host bits set
    except ValueError:
        return False
    return True


def _ipv4(data: bytes, start: int, end: int) -> int | None:
    if is_in(data, start - 1, ALNUM + b"_") or (
        is_in(data, start - 1, b".") and is_in(data, start - 2, DIGITS)
    ):
        return None
    if is_in(data, end, ALNUM + b"_") or (is_in(data, end, b".") and is_in(data, end + 1, DIGITS)):
        return None
    try:
        address = ipaddress.IPv4Address(data[start:end].decode())
    except ValueError:
        return None
    if _private_use(address, data, end) or VERSIONED.search(before(data, start)):
        return None
    return end


def _ipv6(data: bytes, start: int, end: int) -> int | None:
    if is_in(data, start - 1, ALNUM + b"_:.") or is_in(data, end, ALNUM + b"_"):
        return None
    # Sentence punctuation after an address is not part of it.
    token = data[start:end].rstrip(b".")
    if token.endswith(b":") and not token.endswith(b"::"):
        token = token[:-1]
    if not any(byte in DIGITS for byte in token):
        return None  # `dead::beef`, `Foo::Bar`: words, not addresses
    try:
        address = ipaddress.IPv6Address(token.decode())
    except ValueError:
        return None
    return None if _private_use(address, data, start + len(token)) else start + len(token)


def address_detectors() -> list[Detector]:
    return [
        EmailDetector(
            "email",
            "email",
            f"{LOCAL_PART}@[{LETTER}-]+(?:\\.[{LETTER}-]+)+",
            max_len=128,
            accept=_email,
            alphabet=EMAIL_ALPHABET,
            shortest_number=NO_NUMBER,  # its @
        ),
        Detector(
            "ip_address",
            "ip_address",
            r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}",
            max_len=15,
            accept=_ipv4,
            alphabet=DIGITS + b"./",  # `/`: a network's prefix length may follow
            shortest_number=7,  # 1.2.3.4
        ),
        Detector(
            "ip_address.v6",
            "ip_address",
            r"[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*",
            max_len=45,
            accept=_ipv6,
            alphabet=HEX + b":./",
            shortest_number=NO_NUMBER,  # its colons
        ),
    ]
