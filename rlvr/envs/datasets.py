"""Problems from dataset files: JSONL or Parquet rows turned into `Problem`s, for math and code.

    source = DatasetSource("train.jsonl", domain="math")                    # problem/question + answer/solution
    source = DatasetSource("apps.parquet", domain="code", shuffle_seed=0)   # question + input_output (APPS/TACO)
    source = DatasetSource("x.jsonl", mapping={"prompt": "instruction", "answer": "target"})

`problem(seed)` is row `perm[seed % N]`, where `perm` is the identity or, with `shuffle_seed`, a fixed permutation
(`numpy.random.default_rng([shuffle_seed])`), so a seed names the same row on every machine. Problem ids are
"<file name>:<line>" (1-based line of a JSONL file, 1-based row of a Parquet file, 1-based item of a JSON array).
A `.json` file is either one JSON array of row objects or JSON lines (what Hugging Face `Dataset.to_json` writes);
a UTF-8 byte-order mark is allowed.

Field layouts read (first present wins; `mapping` names other columns for our fields `prompt`, `answer`,
`solution`, `tests`):
- math: prompt from `problem` | `question` | `prompt`; reference from `answer` | `final_answer` (GSM8K's worked
  answer, "... #### 72": what follows the last `####`), else the last `\\boxed{}` in `solution` (MATH style). The
  prompt gets the `\\boxed{}` instruction appended. Verifier "math".
- code: prompt from `prompt` | `question` | `problem`; tests from `tests` (a list, or a JSON string of one) or
  `input_output` (APPS/TACO: {"inputs": [...], "outputs": [...], "fn_name": ...}, an object or a JSON string).
  Reference: {"tests": [...]} or {"inputs": [...], "outputs": [...], "fn_name": str | None}. A `solutions`
  (APPS: JSON list of strings) or `solution` field becomes the reference response in a ```python block.
  Verifier "code".

Training and held-out evaluation on one file (what `rlvr train` does with a dataset env): `Rows(source, rows, seed)`
is the source restricted to some rows, with problem `k` the row at position k of an order reshuffled every epoch
(`default_rng([seed, epoch])`), so consecutive positions draw rows without replacement within an epoch;
`holdout_rows(n, k, seed)` picks the k rows evaluation keeps and training never sees. Any source with `__len__` and
`row(i)` can be split so.

Every row is read and checked when the source is built: a bad line fails at once with a ValueError naming the file,
the line and the fields accepted, not halfway through a training run. Not handled: multiple-choice datasets, images,
nested columns other than the ones above, files larger than memory (rows are kept in memory).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rlvr.envs.base import Problem
from rlvr.verifiers.math_extract import top_level_boxes

DOMAINS = ("math", "code")
BOXED_INSTRUCTION = "Put your final answer within \\boxed{}."
CODE_INSTRUCTION = "Write a Python 3 program that solves the problem. Put your code in a ```python code block."

# our field -> dataset columns tried in order, per domain
FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "math": {"prompt": ("problem", "question", "prompt"), "answer": ("answer", "final_answer"),
             "solution": ("solution",)},
    "code": {"prompt": ("prompt", "question", "problem"), "tests": ("tests", "input_output"),
             "solution": ("solutions", "solution")},
}  # fmt: skip


def load_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    with path.open(encoding="utf-8-sig") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise ValueError(f"{path}:{line_no}: not valid JSON ({e})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{line_no}: each line must be a JSON object, got {type(row).__name__}")
            rows.append((line_no, row))
    return rows


def _load_json(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """A `.json` file: one JSON array of objects (rows numbered from 1), else JSON lines."""
    with path.open(encoding="utf-8-sig") as f:
        head = f.read(4096).lstrip()
    if not head.startswith("["):
        return load_jsonl(path)
    try:
        items = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    for i, row in enumerate(items, 1):
        if not isinstance(row, dict):
            raise ValueError(f"{path}: item {i} of the array must be a JSON object, got {type(row).__name__}")
    return list(enumerate(items, 1))


def _load_parquet(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                f"reading {path.name} needs pyarrow (or pandas with a Parquet engine): pip install pyarrow"
            ) from None
        records = pd.read_parquet(path).to_dict(orient="records")
    else:
        records = pq.read_table(path).to_pylist()
    return [(i, dict(r)) for i, r in enumerate(records, 1)]


def load_rows(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line or row number, row dict) for every row of a .jsonl/.json-lines or .parquet file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"dataset file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return load_jsonl(path)
    if suffix == ".json":
        return _load_json(path)
    if suffix in (".parquet", ".pq"):
        return _load_parquet(path)
    raise ValueError(
        f"dataset file {path.name!r}: unknown format {suffix!r}; allowed: .jsonl, .ndjson, .json, .parquet, .pq"
    )


def boxed_answer(text: str) -> str | None:
    """The content of the last top-level `\\boxed{}`/`\\fbox{}` in `text`, or None."""
    boxes = top_level_boxes(text)
    if not boxes:
        return None
    _, start, end = boxes[-1]
    return text[start:end].strip() or None


def final_answer(text: str) -> str:
    """The answer in an answer column: GSM8K's holds the worked solution ending in "#### 72", whose answer is what
    follows the last "####"; any other text is the answer as it is."""
    _, sep, tail = text.rpartition("####")
    return tail.strip() if sep and tail.strip() else text.strip()


def _as_json(value: Any, what: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as e:
            raise ValueError(f"{what} is a string but not JSON ({e})") from None
    return value


class DatasetSource:
    """Rows of a dataset file as Problems (see module docstring for the layouts and the seed -> row rule)."""

    def __init__(
        self,
        path: str | Path,
        mapping: dict[str, str] | None = None,
        domain: str = "math",
        shuffle_seed: int | None = None,
    ) -> None:
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        mapping = dict(mapping or {})
        unknown = set(mapping) - set(FIELDS[domain])
        if unknown:
            raise ValueError(
                f"mapping: unknown field(s) {sorted(unknown)} for domain {domain!r}; allowed: {sorted(FIELDS[domain])}"
            )
        if shuffle_seed is not None and (isinstance(shuffle_seed, bool) or not isinstance(shuffle_seed, int)):
            raise ValueError(f"shuffle_seed must be an integer or None, got {shuffle_seed!r}")
        self.path = Path(path)
        self.domain = domain
        self.mapping = mapping
        self.shuffle_seed = shuffle_seed
        rows = load_rows(self.path)
        if not rows:
            raise ValueError(f"dataset file {str(self.path)!r} has no rows")
        self.problems = [self._problem(line, row) for line, row in rows]
        n = len(self.problems)
        self.perm = np.arange(n) if shuffle_seed is None else np.random.default_rng([shuffle_seed]).permutation(n)

    def __len__(self) -> int:
        return len(self.problems)

    def problem(self, seed: int) -> Problem:
        return self.problems[int(self.perm[int(seed) % len(self.problems)])]

    def row(self, i: int) -> Problem:
        """Row i of the file (0-based, file order)."""
        return self.problems[i]

    # ------------------------------------------------------------ row -> Problem

    def _field(self, row: dict[str, Any], name: str) -> tuple[str, Any] | None:
        """(column, value) of our field `name`: the mapped column, else the first known column present."""
        columns = (self.mapping[name],) if name in self.mapping else FIELDS[self.domain][name]
        for col in columns:
            value = row.get(col)
            if value is not None and not (isinstance(value, str) and not value.strip()):
                return col, value
        return None

    def _accepted(self, name: str) -> str:
        columns = (self.mapping[name],) if name in self.mapping else FIELDS[self.domain][name]
        return " or ".join(repr(c) for c in columns)

    def _problem(self, line: int, row: dict[str, Any]) -> Problem:
        where = f"{self.path}:{line}"
        try:
            return self._math(line, row) if self.domain == "math" else self._code(line, row)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None

    def _prompt(self, row: dict[str, Any]) -> str:
        found = self._field(row, "prompt")
        if found is None:
            raise ValueError(f"missing the problem text: expected a field {self._accepted('prompt')}")
        if not isinstance(found[1], str):
            raise ValueError(f"field {found[0]!r} must be a string, got {type(found[1]).__name__}")
        return found[1].strip()

    def _math(self, line: int, row: dict[str, Any]) -> Problem:
        text = self._prompt(row)
        answer = self._field(row, "answer")
        solution = self._field(row, "solution")
        if answer is not None:
            if isinstance(answer[1], bool) or not isinstance(answer[1], (str, int, float)):
                raise ValueError(f"field {answer[0]!r} must be a string or a number, got {type(answer[1]).__name__}")
            reference = final_answer(str(answer[1]))
        elif solution is not None and isinstance(solution[1], str) and (boxed := boxed_answer(solution[1])):
            reference = boxed
        else:
            raise ValueError(
                f"missing the answer: expected a field {self._accepted('answer')}, "
                f"or a {self._accepted('solution')} containing \\boxed{{...}}"
            )
        return Problem(
            id=f"{self.path.name}:{line}",
            domain="math",
            prompt=f"{text}\n\n{BOXED_INSTRUCTION}",
            reference=reference,
            verifier="math",
            answer_format="boxed",
            solution=f"The final answer is \\boxed{{{reference}}}.",
            meta={"source": str(self.path.name), "line": line},
        )

    def _code(self, line: int, row: dict[str, Any]) -> Problem:
        text = self._prompt(row)
        found = self._field(row, "tests")
        if found is None:
            raise ValueError(f"missing the tests: expected a field {self._accepted('tests')}")
        col, value = found
        value = _as_json(value, f"field {col!r}")
        if isinstance(value, dict):
            inputs, outputs = value.get("inputs"), value.get("outputs")
            if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
                raise ValueError(
                    f"field {col!r} must hold 'inputs' and 'outputs' lists of the same length (APPS/TACO layout)"
                )
            if not inputs:
                raise ValueError(f"field {col!r} has no test cases")
            fn_name = value.get("fn_name")
            layout = {"inputs": inputs, "outputs": outputs, **({"fn_name": fn_name} if fn_name else {})}
            reference: dict[str, Any] = {"input_output": layout}  # the code verifier's APPS/TACO layout
        elif isinstance(value, list):
            if not value:
                raise ValueError(f"field {col!r} has no test cases")
            # assert strings make a test script; dicts are stdin/stdout or function-call cases (code verifier schema)
            strings = all(isinstance(t, str) for t in value)
            reference = {"test_script": "\n".join(value)} if strings else {"tests": value}
        else:
            raise ValueError(
                f"field {col!r} must be a list of tests or an object with 'inputs' and 'outputs', "
                f"got {type(value).__name__}"
            )
        solution = None
        if (sol := self._field(row, "solution")) is not None:
            code = sol[1]
            if sol[0] == "solutions" and isinstance(code, str) and code.lstrip().startswith("["):
                code = _as_json(code, f"field {sol[0]!r}")  # APPS: a JSON list of programs
            if isinstance(code, list):
                code = next((c for c in code if isinstance(c, str) and c.strip()), None)
            if isinstance(code, str) and code.strip():
                solution = f"```python\n{code.strip()}\n```"
        return Problem(
            id=f"{self.path.name}:{line}",
            domain="code",
            prompt=f"{text}\n\n{CODE_INSTRUCTION}",
            reference=reference,
            verifier="code",
            answer_format="code_block",
            solution=solution,
            meta={"source": str(self.path.name), "line": line},
        )


def holdout_rows(n: int, k: int, seed: int) -> list[int]:
    """The k of n rows (0-based) held out for evaluation: a fixed random choice per seed, sorted."""
    if not 0 <= k < n:
        raise ValueError(f"cannot hold out {k} of {n} rows and keep some for training")
    return sorted(int(i) for i in np.random.default_rng([seed, 0x401D]).permutation(n)[:k])


class Rows:
    """`source` (anything with `__len__` and `row(i)`) restricted to `rows`; problem k is the row at position k of
    epoch k // len(rows)'s order, a permutation drawn from (seed, epoch): positions 0..n-1 cover every row once."""

    def __init__(self, source, rows: list[int], seed: int) -> None:
        if not rows:
            raise ValueError("Rows needs at least one row")
        self.source, self.rows, self.seed = source, list(rows), seed
        self._orders: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def row(self, i: int) -> Problem:
        return self.source.row(self.rows[i])

    def problem(self, seed: int) -> Problem:
        epoch, pos = divmod(int(seed), len(self.rows))
        if epoch not in self._orders:
            if len(self._orders) > 64:
                self._orders.clear()
            self._orders[epoch] = np.random.default_rng([self.seed, epoch]).permutation(len(self.rows))
        return self.row(int(self._orders[epoch][pos]))
