"""Fuzz and hostile inputs for the choice and instruction verifiers.

Model text must never raise, never be an infrastructure `error`, never take super-linear time, and never earn
`correct` when it holds no answer. Decisions pinned here: look-alike letters from other scripts (Cyrillic "В",
Greek "Β") are not Latin letters, so they read as `unparsed`; code such as `__import__('os')` is only text.
"""

from __future__ import annotations

import string
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlvr.verifiers.choice import ChoiceVerifier
from rlvr.verifiers.constraints import CONSTRAINTS
from rlvr.verifiers.instruction import InstructionVerifier

CHOICE = ChoiceVerifier()
INSTRUCTION = InstructionVerifier()
MODEL_STATUSES = {"correct", "incorrect", "unparsed"}
# A generous bound: linear code takes about a second on a 1 MB input; a quadratic regex takes hours.
SLOW_S = 10.0

HOSTILE = {
    "1MB letters": "a" * 1_000_000,
    "1MB capital A words": "A " * 500_000,
    "1MB NUL": "\x00" * 1_000_000,
    "NUL between words": "The\x00answer\x00is\x00",
    "nested braces": "{" * 10_000 + "}" * 10_000,
    "open braces": "{" * 10_000,
    "nested brackets": "[" * 10_000 + "]" * 10_000,
    "nested boxed": "\\boxed{" * 10_000,
    "open answer tags": "<answer>" * 50_000,
    "repeated markers": "the answer is " * 50_000,
    "hedge chain": "A or " * 100_000,
    "cyrillic ve": "Answer: \u0412",
    "greek beta": "\\boxed{\u0392}",
    "import os": "__import__('os').system('rm -rf /')",
    "deep json": '{"a":' * 50_000 + "1" + "}" * 50_000,
    "open fences": "```json\n" * 50_000,
    "asterisks": "*a" * 300_000,
    "newlines": "\n" * 1_000_000,
    "placeholder opens": "[x" * 300_000,
    "title opens": "<<x" * 300_000,
}
# Garbage: no choice letter; content constraints no such text can meet.
CHOICE_REF = {"answer": "B", "options": ["London", "Paris", "Berlin", "Madrid"]}
INSTRUCTION_REF = {
    "constraints": [
        {"kind": "keywords_included", "keywords": ["photosynthesis", "chlorophyll"]},
        {"kind": "word_count", "min": 20, "max": 400},
        {"kind": "paragraph_count", "min": 2, "max": 4},
    ]
}


def _timed(verifier, response, reference):
    start = time.perf_counter()
    verdict = verifier.verify(response, reference)
    return verdict, time.perf_counter() - start


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_choice(name):
    verdict, seconds = _timed(CHOICE, HOSTILE[name], CHOICE_REF)
    assert verdict.status in MODEL_STATUSES - {"correct"}, verdict
    assert seconds < SLOW_S


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_instruction(name):
    verdict, seconds = _timed(INSTRUCTION, HOSTILE[name], INSTRUCTION_REF)
    assert verdict.status in MODEL_STATUSES - {"correct"}, verdict
    assert verdict.reward < 1.0
    assert seconds < SLOW_S


def test_control_characters_around_a_letter_do_not_hide_it():
    # Decision: NUL and other control characters are separators, not letters; a lone B between them is B.
    assert CHOICE.verify("\x00B\x00", "B").status == "correct"
    assert CHOICE.verify("\x00C\x00", "B").status == "incorrect"


def test_huge_valid_answer_is_still_read():
    # The whole response is read, not a truncated tail or head.
    response = "reasoning " * 100_000 + "\nThe answer is B."
    assert CHOICE.verify(response, "B").status == "correct"


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NO_LATIN = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=string.ascii_letters))


@FUZZ
@given(st.text(), st.sampled_from(["A", "B", "J", CHOICE_REF]))
def test_choice_never_errors(response, reference):
    verdict = CHOICE.verify(response, reference)
    assert verdict.status in MODEL_STATUSES
    if verdict.status == "correct":
        assert verdict.extracted is not None and verdict.reward == 1.0


@FUZZ
@given(NO_LATIN)
def test_choice_text_without_latin_letters_is_never_correct(response):
    # NFKC can turn fullwidth/math letters into Latin ones; the strategy's alphabet excludes only ASCII letters,
    # so compare against a letter such text cannot spell unless it normalises to it.
    import unicodedata

    verdict = CHOICE.verify(response, "B")
    assert verdict.status != "correct" or "B" in unicodedata.normalize("NFKC", response)


@FUZZ
@given(
    st.lists(
        st.sampled_from(["A", "B", "C", " or ", ", ", " and ", "/", "(", ")", "\n", "the answer is "]), max_size=12
    )
)
def test_choice_on_letter_soup(parts):
    response = "".join(parts)
    verdict = CHOICE.verify(response, "B")
    assert verdict.status in MODEL_STATUSES
    if verdict.status == "correct":
        assert verdict.extracted == "B"


# Valid parameter sets per kind, for random composition.
PARAMS = {
    "word_count": {"min": 1, "max": 50},
    "sentence_count": {"max": 3},
    "paragraph_count": {"min": 1},
    "keywords_included": {"keywords": ["ab"]},
    "keywords_excluded": {"keywords": ["ab"]},
    "keyword_frequency": {"keyword": "a", "max": 2},
    "letter_frequency": {"letter": "a", "min": 1},
    "json_format": {},
    "bullet_count": {"count": 1},
    "title": {},
    "end_phrase": {"phrase": "end."},
    "start_phrase": {"phrase": "Hi"},
    "all_lowercase": {},
    "all_uppercase": {},
    "no_commas": {},
    "placeholders": {"min": 1},
    "section_count": {"count": 1},
    "quotation": {},
    "highlights": {"min": 1},
    "postscript": {},
    "capital_words": {"max": 1},
}


def test_fuzz_params_cover_every_kind():
    assert set(PARAMS) == set(CONSTRAINTS)


@FUZZ
@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",))) | st.text(alphabet='ab *-#[]<>{}"\n,.:P S'),
    st.lists(st.sampled_from(sorted(PARAMS)), min_size=1, max_size=6),
    st.sampled_from(["fraction", "all"]),
)
def test_instruction_never_errors(response, kinds, mode):
    reference = {"constraints": [{"kind": k, **PARAMS[k]} for k in kinds], "mode": mode}
    verdict = INSTRUCTION.verify(response, reference)
    assert verdict.status in MODEL_STATUSES
    assert 0.0 <= verdict.reward <= 1.0
    assert (verdict.status == "correct") == (verdict.reward == 1.0)
    if not response.strip():
        assert verdict.status == "unparsed"
