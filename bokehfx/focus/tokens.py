"""Tokens and clauses of a ``--prompt``: the lexer and the clause splitter (pure, never raise)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Optional

from bokehfx.focus.lexicon import (
    BLUR_VERBS,
    CONTRAST_OPENERS,
    DEPTH_UNITS,
    FILLER,
    FRAME_UNITS,
    ISOLATE_VERBS,
    NEGATION_AUX,
    NEGATION_WORDS,
    NO_SPLIT_BEFORE_WITH,
    NUMBER_WORDS,
    SECOND_UNITS,
    SEPARATOR_WORDS,
)

#: Numbers with more integer digits than this are not understood (no focus value is that large).
MAX_INTEGER_DIGITS = 9

_TOKEN = re.compile(
    r"(?P<tc>[0-9]{1,2}:[0-9]{2}:[0-9]{2}[:;][0-9]{2,3})"
    r"|(?P<fnum>(?<![a-z])f\s*/\s*(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)|(?<![a-z])f(?:[0-9]+(?:\.[0-9]+)?)(?![a-z0-9.]))"
    r"|(?P<num>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?P<unit>[a-z]+(?![a-z']))?"
    r"|(?P<word>[a-z]+(?:['-][a-z]+)*)"
    r"|(?P<arrow>->|=>|\u2192|>)"
    r"|(?P<dash>[-\u2013](?=\s*[0-9]))"
    r"|(?P<at>@)"
    r"|(?P<slash>/)"
    r"|(?P<pct>%)"
    r"|(?P<punct>[,;.()=:!?])"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)",
    re.DOTALL,
)
#: Punctuation that ends a clause.
CLAUSE_PUNCT = frozenset({",", ";", ".", "!", "?", "/"})


@dataclass(frozen=True)
class Token:
    """One lexical token with its span in the (lower-cased) prompt."""

    kind: str  # word, num, tc, fnum, punct, other
    text: str
    start: int
    end: int
    value: Any = None
    unit: Optional[str] = None


def _hyphenated_time(text: str, start: int, end: int) -> Optional[Token]:
    """``two-second`` / ``3-second`` / ``half-second`` as a number with its unit."""
    head, _, unit = text.rpartition("-")
    if unit not in SECOND_UNITS and unit not in FRAME_UNITS and unit not in DEPTH_UNITS:
        return None
    if head in NUMBER_WORDS:
        return Token("num", text, start, end, Fraction(NUMBER_WORDS[head]), unit)
    return None


def tokenize(text: str) -> list[Token]:
    """Split a prompt into tokens (see the grammar); never raises."""
    lowered = text.lower().replace("\u2019", "'")
    tokens: list[Token] = []
    for m in _TOKEN.finditer(lowered):
        kind = m.lastgroup if m.lastgroup != "unit" else "num"
        if m.group("num") is not None:
            kind = "num"
        if kind == "space":
            continue
        if kind == "num" and len(m.group("num").split(".")[0]) > MAX_INTEGER_DIGITS:
            tokens.append(Token("other", m.group(0), m.start(), m.end()))
        elif kind == "num":
            tokens.append(Token("num", m.group(0), m.start(), m.end(), Fraction(m.group("num")), m.group("unit")))
        elif kind == "fnum":
            digits = m.group(0)[1:].replace("/", "").strip()
            if len(digits.split(".")[0]) > MAX_INTEGER_DIGITS:
                tokens.append(Token("other", m.group(0), m.start(), m.end()))
                continue
            tokens.append(Token("fnum", m.group(0), m.start(), m.end(), Fraction(digits)))
        elif kind == "tc":
            tokens.append(Token("tc", m.group(0), m.start(), m.end(), m.group(0)))
        elif kind == "arrow":
            tokens.append(Token("word", "to", m.start(), m.end()))
        elif kind == "pct":
            tokens.append(Token("word", "percent", m.start(), m.end()))
        elif kind == "dash":
            tokens.append(Token("word", "to", m.start(), m.end()))
        elif kind == "at":
            tokens.append(Token("word", "at", m.start(), m.end()))
        elif kind == "slash":
            tokens.append(Token("punct", "/", m.start(), m.end()))
        elif kind == "word" and "-" in m.group(0) and _hyphenated_time(m.group(0), m.start(), m.end()):
            tokens.append(_hyphenated_time(m.group(0), m.start(), m.end()))  # type: ignore[arg-type]
        else:
            tokens.append(Token(kind or "other", m.group(0), m.start(), m.end()))
    return tokens


def _opens_contrast(tokens: list[Token], i: int) -> bool:
    """Whether a contrast clause starts at ``i``: "rather than", "instead of", "as opposed to", or a
    "not" that follows a complete phrase ("the background, not the foreground")."""
    tok = tokens[i]
    nxt = tokens[i + 1].text if i + 1 < len(tokens) else None
    prev = tokens[i - 1].text if i else None
    if tok.text in CONTRAST_OPENERS:
        follower = CONTRAST_OPENERS[tok.text]
        return follower is not None and nxt == follower
    if tok.text == "as" and nxt == "opposed":
        return True
    if tok.text in NEGATION_WORDS and i > 0 and prev not in NEGATION_AUX and prev not in SEPARATOR_WORDS \
            and tok.text in ("not", "never", "nor"):
        return True
    return False


def split_clauses(tokens: list[Token]) -> list[list[Token]]:
    """Clauses between separators (``,`` ``;`` ``.`` and, then, while, but, with...), contrast
    openers starting a clause of their own, fillers dropped."""
    clauses: list[list[Token]] = [[]]
    in_between = False
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1] if i else None
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.kind == "word" and tok.text == "between":
            in_between = True
        if tok.kind == "punct" and tok.text in CLAUSE_PUNCT:
            if tok.text == "," and prev is not None and nxt is not None and prev.kind == "num" and nxt.kind == "num":
                clauses[-1].append(tok)
                continue
            clauses.append([])
            in_between = False
            continue
        if tok.kind == "word" and tok.text == "after" and nxt is not None and nxt.text in ("that", "this"):
            clauses.append([])
            continue
        if tok.kind == "word" and tok.text in ("that", "this") and prev is not None and prev.text == "after":
            continue
        if tok.kind == "word" and tok.text in SEPARATOR_WORDS:
            if tok.text == "and" and in_between:
                in_between = False
                clauses[-1].append(tok)
                continue
            if tok.text == "with" and prev is not None and prev.text in NO_SPLIT_BEFORE_WITH:
                clauses[-1].append(tok)
                continue
            if tok.text == "but" and prev is not None and prev.text in ("everything", "all", "anything"):
                clauses[-1].append(tok)  # "everything but the background"
                continue
            clauses.append([])
            continue
        if tok.kind == "word" and tok.text == "by" and nxt is not None and nxt.text in BLUR_VERBS:
            clauses.append([])  # "make the foreground pop by blurring the background"
            continue
        if tok.kind == "word" and (_opens_contrast(tokens, i) or tok.text == "to" and nxt is not None
                                   and nxt.text in ISOLATE_VERBS) and clauses[-1]:
            clauses.append([])
        clauses[-1].append(tok)
    return [[t for t in c if t.text not in FILLER] for c in clauses if c]


__all__ = ["MAX_INTEGER_DIGITS", "Token", "split_clauses", "tokenize"]
