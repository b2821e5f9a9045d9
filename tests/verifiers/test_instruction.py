"""The instruction-following verifier: labelled agreement, every constraint kind, describe(), param validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlvr.verifiers import get_verifier
from rlvr.verifiers.constraints import CONSTRAINTS
from rlvr.verifiers.instruction import InstructionVerifier, describe_constraints, parse_constraints

DATA = Path(__file__).parent / "data" / "instruction.jsonl"
CASES = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
KEYS = {"verifier", "category", "reference", "response", "expected", "note"}
V = InstructionVerifier()


def test_labelled_set_format():
    assert len(CASES) >= 80
    for case in CASES:
        assert set(case) == KEYS, case
        assert case["verifier"] == "instruction"
        assert case["expected"] in ("correct", "incorrect", "unparsed")
        parse_constraints(case["reference"])  # every labelled reference is well formed


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c['category']}" for i, c in enumerate(CASES)])
def test_agrees_with_label(case):
    verdict = V.verify(case["response"], case["reference"])
    assert verdict.status == case["expected"], (case["note"], verdict)
    assert (verdict.reward == 1.0) == (verdict.status == "correct")


def test_registry_and_kind_count():
    assert isinstance(get_verifier("instruction"), InstructionVerifier)
    assert len(CONSTRAINTS) >= 15


# (kind, params, response, satisfied): edge cases per kind; every kind appears (checked below).
CHECKS = [
    ("word_count", {"min": 3}, "a b c", True),
    ("word_count", {"min": 3}, "a b", False),
    ("word_count", {"max": 0}, "... --- !!!", True),
    ("word_count", {"min": 2, "max": 2}, "naïve café", True),
    ("sentence_count", {"min": 2, "max": 2}, "One. Two.", True),
    ("sentence_count", {"max": 1}, "One!! Two??", False),
    ("sentence_count", {"min": 1, "max": 1}, "Version 2.0 is out", True),
    ("paragraph_count", {"min": 1, "max": 1}, "single\nparagraph\nof lines", True),
    ("paragraph_count", {"min": 2, "max": 2}, "a\n  \t\nb", True),
    ("paragraph_count", {"min": 3}, "a\n* * *\nb\n*****\nc", True),
    ("keywords_included", {"keywords": ["C++"]}, "I like C++ a lot", True),
    ("keywords_included", {"keywords": ["sun", "moon"]}, "sunny moon", False),
    ("keywords_excluded", {"keywords": ["no way"]}, "No   way!", False),
    ("keywords_excluded", {"keywords": ["bad"]}, "badge", True),
    ("keyword_frequency", {"keyword": "a", "min": 2, "max": 2}, "a A aa", True),
    ("keyword_frequency", {"keyword": "x", "max": 0}, "", True),
    ("letter_frequency", {"letter": "A", "min": 3, "max": 3}, "banana", True),
    ("letter_frequency", {"letter": "a", "max": 2}, "banana", False),
    ("json_format", {}, "  [1, 2]  ", True),
    ("json_format", {}, "```JSON\n{}\n```", True),
    ("json_format", {}, "", False),
    ("json_format", {}, '{"a": Infinity}', False),
    ("json_format", {}, "```json\n{}", False),
    ("bullet_count", {"count": 2}, "  - nested a\n    - nested b", True),
    ("bullet_count", {"count": 1}, "+ plus bullet", True),
    ("bullet_count", {"count": 0}, "-not a bullet\n*also not", True),
    ("title", {}, "text then <<Late Title>>", True),
    ("title", {}, "<<broken\ntitle>>", False),
    ("end_phrase", {"phrase": "Any questions?"}, "any questions?", False),
    ("end_phrase", {"phrase": "Bye."}, "Bye.", True),
    ("start_phrase", {"phrase": "Dear Sir"}, "\n\nDear Sir, hello", True),
    ("start_phrase", {"phrase": "Dear Sir"}, "dear sir", False),
    ("all_lowercase", {}, "über straße", True),
    ("all_lowercase", {}, "Über", False),
    ("all_uppercase", {}, "ÜBER 123", True),
    ("all_uppercase", {}, "123", False),
    ("no_commas", {}, "a、b", False),
    ("no_commas", {}, "a;b", True),
    ("placeholders", {"min": 3}, "[a] [b] [c]", True),
    ("placeholders", {"min": 1}, "[ ]", False),
    ("placeholders", {"min": 1}, "[multi\nline]", False),
    ("section_count", {"count": 2}, "## Section I\nx\n**SECTION II**\ny", True),
    ("section_count", {"count": 1}, "Section civil\nSECTION 1", True),
    ("section_count", {"count": 1}, "SECTION\nno number", False),
    ("quotation", {}, '  "wrapped"  ', True),
    ("quotation", {}, '"unbalanced', False),
    ("quotation", {}, '"', False),
    ("highlights", {"min": 1}, "**bold**", True),
    ("highlights", {"min": 1}, "* x *", False),
    ("highlights", {"min": 3}, "*a* *b* *c*", True),
    ("postscript", {}, "Body\np.s. lower case marker", True),
    ("postscript", {}, "P.S. on the first line only", False),
    ("postscript", {}, "Body\nP.S.", False),
    ("capital_words", {"min": 1, "max": 1}, "USA's flag", True),
    ("capital_words", {"min": 1}, "I A", False),
]


@pytest.mark.parametrize(("kind", "params", "response", "expected"), CHECKS)
def test_check(kind, params, response, expected):
    assert CONSTRAINTS[kind].check(response, **params) is expected


def test_every_kind_has_check_cases():
    assert {kind for kind, *_ in CHECKS} == set(CONSTRAINTS)


# One valid parameter set per kind, and a fragment its instruction sentence must contain.
DESCRIBE = {
    "word_count": ({"min": 50, "max": 200}, "at least 50 and at most 200 words"),
    "sentence_count": ({"max": 5}, "at most 5 sentences"),
    "paragraph_count": ({"min": 3, "max": 3}, "exactly 3 paragraphs"),
    "keywords_included": ({"keywords": ["ocean", "tide"]}, "'ocean', 'tide'"),
    "keywords_excluded": ({"keywords": ["very"]}, "Do not include"),
    "keyword_frequency": ({"keyword": "data", "min": 3}, "at least 3 times"),
    "letter_frequency": ({"letter": "z", "max": 2}, "'z'"),
    "json_format": ({}, "JSON"),
    "bullet_count": ({"count": 4}, "exactly 4 bullet points"),
    "title": ({}, "<<"),
    "end_phrase": ({"phrase": "Any other questions?"}, "'Any other questions?'"),
    "start_phrase": ({"phrase": "My answer is"}, "'My answer is'"),
    "all_lowercase": ({}, "lowercase"),
    "all_uppercase": ({}, "capital letters"),
    "no_commas": ({}, "commas"),
    "placeholders": ({"min": 2}, "at least 2 placeholders"),
    "section_count": ({"count": 3, "marker": "Part"}, "PART 1"),
    "quotation": ({}, "double quotation marks"),
    "highlights": ({"min": 2}, "at least 2"),
    "postscript": ({"marker": "P.P.S"}, "P.P.S"),
    "capital_words": ({"min": 1, "max": 4}, "at most 4 words in all capital letters"),
}


def test_every_kind_has_a_description_case():
    assert set(DESCRIBE) == set(CONSTRAINTS)


@pytest.mark.parametrize("kind", sorted(DESCRIBE))
def test_describe(kind):
    params, fragment = DESCRIBE[kind]
    text = CONSTRAINTS[kind].describe(**params)
    assert fragment in text
    assert text[0].isupper() and "None" not in text


def test_describe_constraints_follows_reference_order():
    ref = {"constraints": [{"kind": "no_commas"}, {"kind": "word_count", "max": 10}]}
    sentences = describe_constraints(ref)
    assert len(sentences) == 2 and "commas" in sentences[0] and "at most 10 words" in sentences[1]


BAD_PARAMS = [
    ("word_count", {}, "at least one of 'min' or 'max'"),
    ("word_count", {"min": 5, "max": 2}, "'min' \\(5\\) must not exceed 'max' \\(2\\)"),
    ("word_count", {"min": -1}, "field 'min' must be >= 0"),
    ("word_count", {"min": 2.5}, "field 'min' must be an integer"),
    ("word_count", {"min": True}, "field 'min' must be an integer"),
    ("word_count", {"minimum": 3}, "unknown field\\(s\\) 'minimum'; allowed: max, min"),
    ("keywords_included", {}, "missing required field 'keywords'"),
    ("keywords_included", {"keywords": "ocean"}, "field 'keywords' must be a non-empty list"),
    ("keywords_excluded", {"keywords": []}, "field 'keywords' must be a non-empty list"),
    ("keywords_excluded", {"keywords": ["ok", ""]}, "field 'keywords' must contain only non-empty strings"),
    ("keyword_frequency", {"keyword": "x"}, "at least one of 'min' or 'max'"),
    ("letter_frequency", {"letter": "ab", "min": 1}, "field 'letter' must be a single letter"),
    ("letter_frequency", {"letter": "1", "min": 1}, "field 'letter' must be a single letter"),
    ("bullet_count", {"count": "3"}, "field 'count' must be an integer"),
    ("section_count", {"count": 0}, "field 'count' must be >= 1"),
    ("end_phrase", {"phrase": "   "}, "field 'phrase' must be a non-empty string"),
    ("start_phrase", {}, "missing required field 'phrase'"),
    ("placeholders", {"min": 0}, "field 'min' must be >= 1"),
    ("no_commas", {"strict": True}, "unknown field\\(s\\) 'strict'; allowed: none"),
]


@pytest.mark.parametrize(("kind", "params", "message"), BAD_PARAMS)
def test_bad_params_raise_value_error_naming_kind_and_field(kind, params, message):
    with pytest.raises(ValueError, match=f"^{kind}: .*{message}"):
        CONSTRAINTS[kind].validate(params)
    with pytest.raises(ValueError, match=kind):
        CONSTRAINTS[kind].check("some text", **params)
    with pytest.raises(ValueError, match=kind):
        CONSTRAINTS[kind].describe(**params)


BAD_REFERENCES = [
    ({"constraints": [{"kind": "word_cnt", "min": 3}]}, "unknown constraint kind 'word_cnt'"),
    ({"constraints": [{"kind": "word_count", "min": "3"}]}, "constraints\\[0\\]: word_count: field 'min'"),
    ({"constraints": [{"kind": "no_commas"}, {"min": 3}]}, "constraints\\[1\\] must be a dict with a 'kind'"),
    ({"constraints": []}, "non-empty list"),
    ({"constraints": [{"kind": "no_commas"}], "mode": "some"}, "mode must be one of"),
    ({"constraints": [{"kind": "no_commas"}], "weights": [1]}, "unknown field"),
    ("not json", "not JSON"),
    (42, "must be a dict"),
]


@pytest.mark.parametrize(("reference", "message"), BAD_REFERENCES)
def test_malformed_reference_raises_and_verifies_as_error(reference, message):
    with pytest.raises(ValueError, match=message):
        parse_constraints(reference)
    verdict = V.verify("a fine response.", reference)
    assert verdict.status == "error"
    assert "bad reference" in verdict.detail


MIX = [{"kind": "word_count", "min": 3}, {"kind": "no_commas"}, {"kind": "all_lowercase"}, {"kind": "title"}]


def test_fraction_mode_gives_partial_reward_and_lists_failures():
    verdict = V.verify("one, two three", {"constraints": MIX})
    assert verdict.status == "incorrect"
    assert verdict.reward == pytest.approx(0.5)
    assert "no_commas" in verdict.detail and "title" in verdict.detail and "word_count" not in verdict.detail


def test_all_mode_is_all_or_nothing():
    assert V.verify("one, two three", {"constraints": MIX, "mode": "all"}).reward == 0.0
    verdict = V.verify("<<t>> one two three", {"constraints": MIX, "mode": "all"})
    assert (verdict.status, verdict.reward) == ("correct", 1.0)


def test_json_string_and_bare_list_references():
    assert V.verify("no commas here", json.dumps({"constraints": [{"kind": "no_commas"}]})).correct
    assert V.verify("no commas here", [{"kind": "no_commas"}]).correct


@pytest.mark.parametrize("response", ["", "   ", "\n\t\n"])
def test_empty_response_is_unparsed(response):
    verdict = V.verify(response, {"constraints": [{"kind": "no_commas"}]})
    assert (verdict.status, verdict.reward) == ("unparsed", 0.0)
