"""Knights-and-knaves checker: an assignment is correct when every statement's truth equals its speaker's kind.

Reference: `{"people": [name, ...], "statements": [tree, ...]}`, statement i spoken by person i. A tree is
`{"op": "is", "p": i, "knight": bool}`, `{"op": "same" | "diff", "p": [i, j]}`, `{"op": "exactly" | "at_least" |
"at_most", "k": k}` (knights among everyone), `{"op": "and" | "or" | "if", "args": [a, b]}` or
`{"op": "not", "arg": a}`.

Answer: `Name: knight, Name: knave, ...` (also `Name = knave`, `Name is a knight`; names and kinds are
case-insensitive; "a"/"an" and a plural "s" are ignored). Everyone must be named; a person named twice with
different kinds is a hedge (incorrect); an unknown name or kind is unparsed.
"""

from __future__ import annotations

from typing import Any

from rlvr.verifiers.base import Verdict
from rlvr.verifiers.puzzles.common import Answer, PuzzleVerifier, correct, incorrect, parse_pairs, unparsed


def holds(s: dict[str, Any], knights: list[bool] | tuple[bool, ...]) -> bool:
    """Truth of statement tree `s` when `knights[i]` says whether person i is a knight."""
    op = s["op"]
    if op == "is":
        return knights[s["p"]] == s["knight"]
    if op in ("same", "diff"):
        a, b = s["p"]
        return (knights[a] == knights[b]) == (op == "same")
    if op == "exactly":
        return sum(knights) == s["k"]
    if op == "at_least":
        return sum(knights) >= s["k"]
    if op == "at_most":
        return sum(knights) <= s["k"]
    if op == "not":
        return not holds(s["arg"], knights)
    a, b = (holds(x, knights) for x in s["args"])
    if op == "and":
        return a and b
    if op == "or":
        return a or b
    if op == "if":
        return (not a) or b
    raise ValueError(f"unknown statement op {op!r}")


_COUNTS = ("exactly", "at_least", "at_most")


def render(s: dict[str, Any], names: list[str]) -> str:
    """The statement in English, as its speaker says it."""
    op = s["op"]
    if op == "is":
        return f"{names[s['p']]} is a {'knight' if s['knight'] else 'knave'}"
    if op in ("same", "diff"):
        a, b = (names[i] for i in s["p"])
        return f"{a} and {b} are {'the same kind' if op == 'same' else 'different kinds'}"
    if op in ("exactly", "at_least", "at_most"):
        k = s["k"]
        amount = {"exactly": "Exactly", "at_least": "At least", "at_most": "At most"}[op]
        return f"{amount} {k} of us {'is a knight' if k == 1 else 'are knights'}"
    if op == "not":
        inner = render(s["arg"], names)
        return f"It is not true that {inner[0].lower() + inner[1:] if s['arg']['op'] in _COUNTS else inner}"
    a, b = (render(x, names) for x in s["args"])
    return f"If {a}, then {b}" if op == "if" else f"{a} {op} {b}"


def _kind(value: str) -> bool | None:
    words = value.split()
    if words and words[0] in ("a", "an"):
        words = words[1:]
    word = " ".join(words).rstrip("s")
    return {"knight": True, "knave": False}.get(word)


class KnightsKnavesVerifier(PuzzleVerifier):
    name = "puzzle/knights_knaves"

    def parse_reference(self, reference: Any) -> tuple[list[str], list[dict[str, Any]]]:
        people, statements = list(reference["people"]), list(reference["statements"])
        if len(people) != len(statements) or not people:
            raise ValueError("one statement per person")
        holds(statements[0], [True] * len(people))  # raises on a malformed tree
        return people, statements

    def check(self, answer: Answer, ref: tuple[list[str], list[dict[str, Any]]]) -> Verdict:
        people, statements = ref
        index = {name.casefold(): i for i, name in enumerate(people)}
        pairs = parse_pairs(answer)
        if isinstance(pairs, str):
            return unparsed(answer.text.strip(), pairs)
        kinds: dict[int, bool] = {}
        for key, value, _ in pairs:
            if key not in index:
                return unparsed(answer.text.strip(), f"unknown person {key[:40]!r}")
            kind = _kind(value)
            if kind is None:
                return unparsed(answer.text.strip(), f"{key}: {value[:40]!r} is neither knight nor knave")
            if kinds.get(index[key], kind) != kind:
                return incorrect(answer.text.strip(), f"hedge: {people[index[key]]} is given both kinds")
            kinds[index[key]] = kind
        text = ", ".join(f"{people[i]}: {'knight' if kinds[i] else 'knave'}" for i in sorted(kinds))
        missing = [people[i] for i in range(len(people)) if i not in kinds]
        if missing:
            return incorrect(text, f"no kind given for {', '.join(missing)}")
        assignment = [kinds[i] for i in range(len(people))]
        for i, s in enumerate(statements):
            if holds(s, assignment) != assignment[i]:
                role = "knight" if assignment[i] else "knave"
                return incorrect(
                    text,
                    f"{people[i]} would be a {role} saying something {'false' if assignment[i] else 'true'}: "
                    f"{render(s, people)}",
                )
        return correct(text, "every statement matches its speaker")
