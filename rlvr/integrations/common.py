"""What the reward functions and the export share: references as text, and one verifier per name per process.

A reference is a string (math answers) or a JSON object (code tests, puzzles, constraints). Datasets in other
stacks hold it as text (verl's `reward_model.ground_truth`, a TRL dataset column), so a dict travels as its JSON
text and comes back through `decode_reference`: text that is a JSON object is read as one, anything else stays
text ("[1, 2]" is an interval, not a list). A string reference that itself reads as a JSON object could not be
told apart from an encoded dict, so `encode_reference` refuses it.
"""

from __future__ import annotations

import json
import numbers
import threading
from typing import Any

from rlvr.verifiers import Verifier, available_verifiers, get_verifier


def env_kwargs_json(text: str, what: str) -> dict:
    """Env constructor arguments given as JSON text (`--kwargs`, `RLVR_ENV_KWARGS`); `what` names the source in
    the error."""
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{what} must be a JSON object of env constructor arguments ({e})") from e
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object of env constructor arguments, got {text!r}")
    return value


def encode_reference(reference: Any) -> str:
    """`reference` as the text a dataset column holds: a string as itself, anything else as JSON."""
    if isinstance(reference, str):
        if isinstance(_json_object(reference), dict):
            raise ValueError(f"a string reference that reads as a JSON object is ambiguous: {reference[:80]!r}")
        return reference
    try:
        return json.dumps(reference, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"reference is not a JSON value ({e}): {reference!r:.80}") from e


def decode_reference(value: Any, field: str = "ground_truth") -> Any:
    """The reference a verifier takes, from what a dataset holds: JSON-object text -> dict, other text as is; a
    dict (a struct column) as is; a number as its text. Anything else is a ValueError naming `field`."""
    if isinstance(value, str):
        decoded = _json_object(value)
        return decoded if isinstance(decoded, dict) else value
    if isinstance(value, dict):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):  # numpy scalars too (a pandas-read row)
        return str(value)
    kind = type(value).__name__
    raise ValueError(f"{field} must be text (JSON text for structured references) or a dict, got {kind}")


def _json_object(text: str) -> Any:
    if not text.lstrip().startswith("{"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


_VERIFIERS: dict[str, Verifier] = {}
_LOCK = threading.Lock()


def shared_verifier(name: str) -> Verifier:
    """The process-wide in-process verifier called `name` (made once: the code verifier owns a sandbox pool).
    Verifiers are thread-safe; an unknown name is a ValueError listing the known ones."""
    with _LOCK:
        if name not in _VERIFIERS:
            _VERIFIERS[name] = get_verifier(name)
        return _VERIFIERS[name]


def is_verifier_name(name: Any) -> bool:
    return isinstance(name, str) and name in available_verifiers()


def completion_text(completion: Any) -> str:
    """The text to verify from a completion: a string as is; chat messages (TRL's conversational format) -> the
    content of the last assistant message ("" when there is none)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        for message in reversed(completion):
            if isinstance(message, dict) and message.get("role") == "assistant":
                content = message.get("content")
                if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
                    parts = [p for p in content if isinstance(p, dict) and p.get("type") == "text"]
                    return "".join(str(p.get("text", "")) for p in parts)
                return content if isinstance(content, str) else ""
        return ""
    raise ValueError(f"a completion must be text or a list of chat messages, got {type(completion).__name__}")
