"""The prompt corpus (tests/data/prompts.toml): how instructions written the way people say them
are read, what must be refused, and fuzzing that nothing but the usage error escapes."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bokehfx.errors import UsageError
from bokehfx.focus.canonical import describe_plan
from bokehfx.focus.lexicon import BLUR_WORDS, FAR_WORDS, NEAR_WORDS, NEGATION_WORDS, SHARP_WORDS, SOFT_WORDS
from bokehfx.focus.prompt import parse_prompt

CORPUS = tomllib.loads((Path(__file__).parent / "data" / "prompts.toml").read_text(encoding="utf-8"))
READ = CORPUS["read"]
REFUSE = CORPUS["refuse"]
RATE = 24
#: Share of the corpus that must read as expected.
REQUIRED_SHARE = 0.95


class CorpusMisses(UserWarning):
    """Instructions of the corpus not read as expected (listed in the test output)."""


def reading(entry: dict) -> str:
    try:
        return describe_plan(parse_prompt(entry["prompt"], RATE, subjects=entry.get("subjects", False)))
    except UsageError as err:
        return f"refused: {err}"


def test_corpus_is_large_and_varied() -> None:
    assert len(READ) >= 150 and len(REFUSE) >= 40
    assert len({(e["prompt"], e.get("subjects", False)) for e in READ}) == len(READ)
    assert sum(1 for e in READ if e.get("subjects")) >= 10
    assert sum(1 for e in REFUSE if "subject-model" in e["because"]) >= 3


def test_at_least_95_percent_read_as_expected_and_misses_are_listed() -> None:
    misses = [(e["prompt"], e["expected"], reading(e)) for e in READ if reading(e) != e["expected"]]
    share = 1 - len(misses) / len(READ)
    if misses:
        listed = "\n".join(f"  {p!r}\n    expected: {x}\n    read as:  {got[:160]}" for p, x, got in misses)
        warnings.warn(CorpusMisses(f"{len(misses)} of {len(READ)} prompts not read as expected "
                                   f"({share:.1%} read):\n{listed}"))
    assert share >= REQUIRED_SHARE, f"only {share:.1%} read as expected"


@pytest.mark.parametrize("entry", REFUSE, ids=[e["prompt"][:40] for e in REFUSE])
def test_refused_with_one_line_naming_the_reason(entry: dict) -> None:
    with pytest.raises(UsageError) as err:
        parse_prompt(entry["prompt"], RATE, subjects=entry.get("subjects", False))
    message = str(err.value)
    assert entry["because"] in message and "\n" not in message


@pytest.mark.parametrize("entry", READ, ids=[e["prompt"][:40] for e in READ])
def test_canonical_words_read_back_to_themselves(entry: dict) -> None:
    plan = parse_prompt(entry["expected"], RATE, subjects=entry.get("subjects", False))
    assert describe_plan(plan) == entry["expected"]


SOUP = sorted({"focus", "on", "the", "rack", "pull", "to", "from", "at", "over", "2s", "1.5s", "halfway", "end",
               "start", "then", "and", "not", "rather", "than", "instead", "of", "blur", "touch", "creamy", "bokeh",
               "keep", "make", "it", "into", "out", "whatever", "is", "closest", "second", "layer", "dog", "in",
               "red", "25%", "00:00:01:00", "f/2", ",", "through", "first", "half", "snap", "slowly", "by",
               "between", "->", "don't", "everything", "shallow", "depth", "field", "frame", "12", "0.4"}
              | set(list(NEAR_WORDS)[:4]) | set(list(FAR_WORDS)[:4]) | set(list(SHARP_WORDS)[:3])
              | set(list(SOFT_WORDS)[:3]) | set(list(BLUR_WORDS)[:2]) | set(list(NEGATION_WORDS)[:3]))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(SOUP), max_size=14), st.booleans())
def test_fuzzed_instructions_raise_nothing_but_the_usage_error(words: list[str], subjects: bool) -> None:
    try:
        plan = parse_prompt(" ".join(words), RATE, subjects=subjects)
    except UsageError as err:
        assert "\n" not in str(err)
        return
    said = describe_plan(plan)
    assert describe_plan(parse_prompt(said, RATE, subjects=subjects)) == said


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.booleans())
def test_any_text_raises_nothing_but_the_usage_error(text: str, subjects: bool) -> None:
    try:
        parse_prompt(text, RATE, subjects=subjects)
    except UsageError:
        pass
