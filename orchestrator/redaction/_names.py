"""Personal names in free text: "lookup failed for Ali Hassan", "Anna-Karin Söderström".

A name list alone misses most names and a capitalised-word rule alone masks half of English, so
the rule combines three signals over each run of capitalised words (single spaces, name
particles such as "von" or "al" between them, URL-encoded spaces too):

- a word is a *name* when it is a known first name or surname (`_names_data`, with hyphenated
  double names and the genitive -s), or has a surname's ending (-sson, -ström, -qvist, -berg,
  -inen, -ović, -ski, -zadeh, ...), or an Arabic/Irish surname prefix (al-, El-, O');
- a known name that is also an ordinary word ("Per", "Max", "Will", "Berg") counts only next
  to another name;
- the unknown capitalised words adjacent to a name are masked with it ("Anna Xyzzy",
  "Xyzzy Svensson"), and so are two or more after a word that introduces a person ("for",
  "kunden", "Dear", "Mr"), and the name on the other side of a comma from a surname
  ("Svensson, Per") — but never a word of the log vocabulary (`NOT_NAMES`: system,
  connector and event words, sentence openers).

Words written together with code punctuation (`Europe/Stockholm`, `connectors.Billing`,
`Subject(`) and CamelCase identifiers (`KeyError`, `DsrWorkflowV2`) are not words of a name.
Lower-case names are masked only as a known first name followed by a known surname
(`anna svensson`, `anna_svensson`), the shape of usernames and hand-typed text.
"""

from __future__ import annotations

import re
from functools import lru_cache

from orchestrator.redaction._names_data import AMBIGUOUS, FIRST_NAMES, NOT_NAMES, SURNAMES

__all__ = ["mask_names"]

NAME = "[name]"
_KNOWN = FIRST_NAMES | SURNAMES | AMBIGUOUS
_LOWER_FIRST = frozenset(n.lower() for n in FIRST_NAMES - AMBIGUOUS - NOT_NAMES)
_LOWER_SURNAMES = frozenset(n.lower() for n in SURNAMES - AMBIGUOUS - NOT_NAMES)

# Latin letters (Basic Latin to Latin Extended-B): Å, Ö, É, Ü, Ć, Š, Ł, Ş, Ğ, ...
_UPPER = "".join(c for c in map(chr, range(0x41, 0x250)) if c.isupper())
_LOWER = "".join(c for c in map(chr, range(0x61, 0x250)) if c.islower())
_UP, _LO = f"[{_UPPER}]", f"[{_LOWER}]"

_PART = rf"(?:{_UP}{_LO}+|{_UP}['\u2019]{_UP}{_LO}+|Ma?c{_UP}{_LO}+)"  # Anna, O'Brien, McLean
_LOWER_PREFIX = r"(?:al|el|ul|bin|ibn|abu|ben|van|von|de|di|da|du|la|le|d)[-'\u2019]"
_WORD = rf"(?:{_LOWER_PREFIX})?{_PART}(?:[-'\u2019]{_PART})*"  # Anna-Karin, al-Sayed, Ould-Ahmed
_CAPS = rf"{_UP}{{2,}}(?:-{_UP}{{2,}})*"  # ANNA-KARIN SÖDERSTRÖM
_TOKEN = rf"(?:{_WORD}|{_CAPS})"
_PARTICLE = r"(?:von|van|der|den|de|af|av|da|di|du|del|della|dos|das|la|le|al|el|bin|ibn|abu)"
_GAP = r"(?:[ \t\u00a0]+|%20|\+)"
# The first token is written out from its first (capital) letter on, and what may stand before
# it is checked after that letter (a two-character look-behind): a pattern that starts with a
# character class is scanned for fast, which matters on long lines (tracebacks).
_FIRST = (
    rf"{_UP}(?:(?<![\w@./\\#$%&+\-].)|(?<=%20.)|(?<=\+.))"
    rf"(?:(?:(?<=M)a?c{_UP}{_LO}+|{_LO}+|['\u2019]{_UP}{_LO}+)(?:[-'\u2019]{_PART})*"
    rf"|{_UP}+(?:-{_UP}{{2,}})*)"
)
_AFTER = r"(?![\w@(]|\.\w|-\w|['\u2019]\w\w)"
_RUN = re.compile(rf"{_FIRST}(?:{_GAP}(?:{_PARTICLE}{_GAP})?{_TOKEN})*{_AFTER}")
_TOKEN_RE = re.compile(_TOKEN)

# Surname endings: Swedish (-sson, -ström, -qvist, -berg, -gren, -lund, -holm, -dahl, -blad,
# -stedt, -én), Finnish (-inen, -anen, -onen but not Swedish "Versionen", -änen on eight
# letters or more: not "Domänen"; a Swedish "Maskinen" is masked, tolerably), South Slavic
# (-ović, -ić), Polish (-ski, -wska, -wicz, -czyk), Ukrainian (-enko), Russian (-ov, -eva, on
# six letters or more: not "Behov"), Romanian
# (-escu), Turkish (-oğlu), Persian (-zadeh, -pour, -nejad), German (-mann), Icelandic
# (-dóttir). Danish -sen is left to the list: Swedish definite forms end so too
# ("Licensen", "Processen", "Stiftelsen").
_SURNAME_ENDING = re.compile(
    r"(?:sson|ström|strom|qvist|kvist|quist|berg|gren|lund|holm|dahl|blad|stedt|sjö|bäck|én|"
    r"inen|anen|(?<!i)onen|unen|önen|ynen|ović|ević|ić|ovic|evic|ski|wska|ńska|"
    r"icka|wicz|czyk|enko|escu|oğlu|oglu|zadeh|zade|pour|nejad|mann|dóttir|dotter)$"
    r"|^[^\W\d_]{4,}(?:ov|ova|ev|eva|änen)$"
)
_SURNAME_PREFIX = re.compile(rf"^(?:{_LOWER_PREFIX}|(?:Al|El|Abu|Abd|Bin|Ibn|Ben|O)[-'\u2019])")
# Words that introduce a person: two or more unknown capitalised words after them are a name
# ("lookup failed for Zlatko Ibrahimovic"), one after a title or a role ("Dear Xyzzy").
_INTRODUCES_TWO = re.compile(r"(?i)(?<![\w])(?:for|för|by|från|from|av|till|åt)\s+$")
_INTRODUCES_ONE = re.compile(
    r"(?i)(?<![\w])(?:kunden|kund|customer|user|användare|användaren|person|contact|kontakt|"
    r"subject|holder|registrant|innehavare|mr|mrs|ms|miss|dr|herr|fru|hej|hi|hello|dear|"
    r"sir|madam)\.?\s+$"
)

_BEFORE_COMMA = re.compile(rf"(?:(?<![\w])({_TOKEN})|\[name\]|\[redacted\]),\s$")
_AFTER_COMMA = re.compile(rf",\s({_TOKEN})")

_STOP, _OTHER, _WEAK, _STRONG = 0, 1, 2, 3


@lru_cache(maxsize=8192)
def _classify(token: str) -> int:
    if token.isupper():  # ANNA, SÖDERSTRÖM; short capitals are acronyms (API, DLQ, GET)
        kind = _classify_title(token.title())
        return _STOP if kind == _OTHER and len(token) <= 3 else kind
    return _classify_title(token)


def _classify_title(token: str) -> int:
    if token in NOT_NAMES:
        return _WEAK if token in _KNOWN else _STOP
    if token in _KNOWN:
        return _WEAK if token in AMBIGUOUS else _STRONG
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):  # genitive: Annas
        stem = _classify_title(token[:-1])
        if stem >= _WEAK:
            return stem
    parts = [p for p in re.split(r"[-'\u2019]", token) if p]
    if len(parts) > 1:
        kinds = [_classify_title(p) for p in parts]
        if _STRONG in kinds or kinds.count(_WEAK) > 1 or _SURNAME_PREFIX.match(token):
            return _STRONG
        return _WEAK if _WEAK in kinds else _OTHER
    if len(token) >= 5 and _SURNAME_ENDING.search(token):
        return _STRONG
    return _OTHER


def _pairs(first: str | None, second: str) -> bool:
    """Two ambiguous names by a comma ("Berg, Saga") are a name; two log words ("Will, Max",
    "Jan, Maj") are not."""
    return first is not None and all(
        _classify(t) == _WEAK and t.title() not in NOT_NAMES for t in (first, second)
    )


def _masked(kinds: list[int], introduced: int) -> list[bool]:
    n = len(kinds)
    masked = [
        kind == _STRONG
        or (
            kind == _WEAK
            and ((i > 0 and kinds[i - 1] >= _WEAK) or (i + 1 < n and kinds[i + 1] >= _WEAK))
        )
        for i, kind in enumerate(kinds)
    ]
    # Introduced by "for"/"Dear"...: the leading unknown words are a name.
    leading = 0
    while leading < n and kinds[leading] in (_OTHER, _WEAK):
        leading += 1
    if introduced and leading >= introduced:
        masked[:leading] = [True] * leading
    # The unknown (or ambiguous) words next to a name belong to it.
    for order in (range(1, n), range(n - 2, -1, -1)):
        for i in order:
            neighbour = i - 1 if order.step == 1 else i + 1
            if not masked[i] and kinds[i] in (_OTHER, _WEAK) and masked[neighbour]:
                masked[i] = True
    return masked


def _mask_run(match: re.Match[str]) -> str:
    run = match.group(0)
    tokens = list(_TOKEN_RE.finditer(run))
    kinds = [_classify(t.group(0)) for t in tokens]
    if max(kinds) == _STOP:
        return run
    before = match.string[max(0, match.start() - 40) : match.start()]
    introduced = 1 if _INTRODUCES_ONE.search(before) else 2 if _INTRODUCES_TWO.search(before) else 0
    # Surname first: "Svensson, Per", "Lind, Anna", "Berg, Saga" (two known names by a comma).
    previous = _BEFORE_COMMA.search(before) if before.endswith(", ") else None
    if previous and not introduced:
        kind = _STRONG if previous.group(1) is None else _classify(previous.group(1))
        if kind == _STRONG:
            introduced = 1
        elif _pairs(previous.group(1), tokens[0].group(0)):
            kinds[0] = _STRONG
    following = _AFTER_COMMA.match(match.string, match.end())
    if following and kinds[-1] in (_OTHER, _WEAK):
        kind = _classify(following.group(1))
        if kind == _STRONG or _pairs(tokens[-1].group(0), following.group(1)):
            kinds[-1] = _STRONG
    masked = _masked(kinds, introduced)
    if not any(masked):
        return run
    out: list[str] = []
    cursor = 0
    i = 0
    while i < len(tokens):
        if not masked[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and masked[j + 1]:
            j += 1
        out.append(run[cursor : tokens[i].start()])
        out.append(NAME)
        cursor = tokens[j].end()
        i = j + 1
    out.append(run[cursor:])
    return "".join(out)


_LOWER_PAIR = re.compile(
    rf"(?<![\w@./\\\-])({_LO}{{2,}})(?=[ ._\-]({_LO}{{2,}}(?:-{_LO}{{2,}})?)(?![^\W_]|@|\.\w))"
)


_LOWER_WORD = re.compile(rf"{_LO}{{2,}}")


def _lower_names(text: str) -> str:
    if _LOWER_FIRST.isdisjoint(_LOWER_WORD.findall(text)):
        return text
    spans: list[tuple[int, int]] = []
    for match in _LOWER_PAIR.finditer(text):
        first, last = match.group(1), match.group(2)
        if first in _LOWER_FIRST and (
            last in _LOWER_SURNAMES or (len(last) >= 6 and _SURNAME_ENDING.search(last))
        ):
            spans.append((match.start(1), match.end(2)))
    if not spans:
        return text
    out, cursor = [], 0
    for start, end in spans:
        if start < cursor:
            continue
        out.append(text[cursor:start])
        out.append(NAME)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def mask_names(text: str) -> str:
    """Replace personal names in free text with `[name]`."""
    return _lower_names(_RUN.sub(_mask_run, text))
