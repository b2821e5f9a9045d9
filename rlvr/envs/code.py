"""rlvr/Code-v0 and rlvr/CodeFeedback-v0: write a Python function; hidden tests run in the sandbox.

    gym.make("rlvr/Code-v0")                                   # procedural tasks, difficulty 2
    gym.make("rlvr/Code-v0", difficulty=3, num_tests=12)
    gym.make("rlvr/Code-v0", dataset="apps.jsonl")             # prompt + tests / input_output rows
    gym.make("rlvr/CodeFeedback-v0", max_turns=3)              # failing tests come back as the next prompt

Procedural problems: a task from `TASKS` (each with our reference solution, run here on trusted inputs to
compute the expected values) and `num_tests` function-call tests drawn from the seed. `difficulty` (1-3)
chooses the task tier and grows the inputs (list lengths, string lengths, magnitudes). The prompt shows
two tests as examples; the verifier runs all of them (the reference holds them, the prompt does not).
Reward is the fraction of tests passed (the code verifier's default, ProRL's choice).

CodeFeedback-v0 is multi-turn: after a response that does not pass every test, the next prompt gives the
verifier's summary (which tests failed and how) and asks for a corrected program, up to `max_turns`.

Not handled: stdin/stdout-style procedural tasks (use a dataset), languages other than Python.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from rlvr.envs.base import Problem, ReasoningEnv, problem_rng
from rlvr.envs.datasets import DatasetSource
from rlvr.verifiers import Verdict, Verifier


@dataclasses.dataclass(frozen=True)
class Task:
    tier: int  # 1 easy, 2 medium, 3 hard
    signature: str
    description: str
    solution: Callable[..., Any]  # our reference solution; its source is the problem's reference response
    make_args: Callable[[np.random.Generator, int], list[Any]]  # (rng, difficulty) -> arguments

    @property
    def name(self) -> str:
        return self.solution.__name__

    @property
    def source(self) -> str:
        return inspect.getsource(self.solution)


def _ints(rng: np.random.Generator, n: int, lo: int, hi: int) -> list[int]:
    return [int(x) for x in rng.integers(lo, hi + 1, size=n)]


def _word(rng: np.random.Generator, n: int, alphabet: str = "abcde") -> str:
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=n))


def _n(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo, hi + 1))


# --- reference solutions (trusted code; each one's source text is shown as the reference response) -----


def sum_of_evens(nums):
    return sum(x for x in nums if x % 2 == 0)


def count_vowels(s):
    return sum(c in "aeiou" for c in s)


def reverse_words(s):
    return " ".join(reversed(s.split(" ")))


def digital_root(n):
    while n >= 10:
        n = sum(map(int, str(n)))
    return n


def run_length(s):
    out, i = [], 0
    while i < len(s):
        j = i
        while j < len(s) and s[j] == s[i]:
            j += 1
        out.append(s[i] + str(j - i))
        i = j
    return "".join(out)


def balanced(s):
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for c in s:
        if c in "([{":
            stack.append(c)
        elif c in pairs and (not stack or stack.pop() != pairs[c]):
            return False
    return not stack


def max_subarray(nums):
    best = cur = nums[0]
    for x in nums[1:]:
        cur = max(x, cur + x)
        best = max(best, cur)
    return best


def fib_mod(n, m):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, (a + b) % m
    return a % m


def lis_length(nums):
    import bisect

    tails = []
    for x in nums:
        i = bisect.bisect_left(tails, x)
        tails[i : i + 1] = [x]
    return len(tails)


def edit_distance(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def count_islands(grid):
    seen, count = set(), 0
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            if not v or (i, j) in seen:
                continue
            count += 1
            stack = [(i, j)]
            while stack:
                y, x = stack.pop()
                if (y, x) in seen or not (0 <= y < len(grid) and 0 <= x < len(grid[y])) or not grid[y][x]:
                    continue
                seen.add((y, x))
                stack += [(y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)]
    return count


def primes_below(n):
    sieve = [True] * max(n, 2)
    sieve[0] = sieve[1] = False
    for i in range(2, int(n**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = [False] * len(sieve[i * i :: i])
    return [i for i in range(n) if sieve[i]]


TASKS: tuple[Task, ...] = (
    Task(1, "sum_of_evens(nums: list[int]) -> int", "returns the sum of the even numbers in `nums`", sum_of_evens,
         lambda r, d: [_ints(r, _n(r, 0, 3 + 6 * d), -10 * d, 10 * d)]),
    Task(1, "count_vowels(s: str) -> int", "returns how many characters of `s` are vowels (aeiou)", count_vowels,
         lambda r, d: [_word(r, _n(r, 0, 3 + 6 * d), "abeiouxyz")]),
    Task(1, "reverse_words(s: str) -> str",
         "returns the words of `s` (separated by single spaces) in reverse order, joined by single spaces",
         reverse_words, lambda r, d: [" ".join(_word(r, _n(r, 1, 5), "abcdef") for _ in range(_n(r, 1, 2 + 2 * d)))]),
    Task(1, "digital_root(n: int) -> int",
         "returns the digit sum of `n`, repeated until a single digit remains (n >= 0)", digital_root,
         lambda r, d: [int(r.integers(0, 10 ** (2 + 3 * d)))]),
    Task(2, "run_length(s: str) -> str",
         "returns the run-length encoding of `s`: each run of a repeated character as the character followed by "
         "the run's length, e.g. 'aaab' -> 'a3b1'", run_length,
         lambda r, d: ["".join(c * _n(r, 1, 1 + 2 * d) for c in _word(r, _n(r, 0, 2 + 2 * d), "ab"))]),
    Task(2, "balanced(s: str) -> bool", "returns whether the brackets ()[]{} in `s` are balanced and properly nested",
         balanced, lambda r, d: [_word(r, 2 * _n(r, 0, 1 + 3 * d), "()[]{}" if r.random() < 0.5 else "(())[]")]),
    Task(2, "max_subarray(nums: list[int]) -> int",
         "returns the largest sum of a non-empty contiguous subarray of `nums` (len(nums) >= 1)", max_subarray,
         lambda r, d: [_ints(r, _n(r, 1, 3 + 8 * d), -20 * d, 20 * d)]),
    Task(2, "fib_mod(n: int, m: int) -> int",
         "returns the n-th Fibonacci number modulo m, with fib(0) = 0 and fib(1) = 1", fib_mod,
         lambda r, d: [int(r.integers(0, 10 ** (1 + d))), _n(r, 2, 999)]),
    Task(3, "lis_length(nums: list[int]) -> int",
         "returns the length of the longest strictly increasing subsequence of `nums`", lis_length,
         lambda r, d: [_ints(r, _n(r, 0, 4 + 10 * d), 0, 10 * d)]),
    Task(3, "edit_distance(a: str, b: str) -> int",
         "returns the minimum number of single-character insertions, deletions and substitutions turning a into b",
         edit_distance, lambda r, d: [_word(r, _n(r, 0, 2 + 3 * d), "abc"), _word(r, _n(r, 0, 2 + 3 * d), "abc")]),
    Task(3, "count_islands(grid: list[list[int]]) -> int",
         "returns the number of 4-connected groups of 1s in the 0/1 grid", count_islands,
         lambda r, d: [[_ints(r, 2 + 2 * d, 0, 1) for _ in range(2 + 2 * d)]]),
    Task(3, "primes_below(n: int) -> list[int]", "returns the primes smaller than n, in increasing order",
         primes_below, lambda r, d: [int(r.integers(0, 20 * 10 ** (d - 1) + 2))]),
)  # fmt: skip

CODE_FORMAT = "Reply with the complete function in a ```python code block."


@dataclasses.dataclass(frozen=True)
class CodeConfig:
    difficulty: int = 2
    num_tests: int = 8
    tasks: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.difficulty not in (1, 2, 3):
            raise ValueError(f"Code difficulty must be 1, 2 or 3, got {self.difficulty!r}")
        if not isinstance(self.num_tests, int) or not 2 <= self.num_tests <= 100:
            raise ValueError(f"Code num_tests must be an integer in 2..100, got {self.num_tests!r}")
        known = {t.name for t in TASKS}
        if self.tasks is not None and (not self.tasks or set(self.tasks) - known):
            raise ValueError(f"Code tasks must be a non-empty subset of {sorted(known)}, got {self.tasks!r}")


class CodeSource:
    def __init__(self, config: CodeConfig) -> None:
        self.config = config
        names = config.tasks or [t.name for t in TASKS if t.tier <= config.difficulty]
        self.tasks = [t for t in TASKS if t.name in names]

    def problem(self, seed: int) -> Problem:
        rng = problem_rng(seed)
        task = self.tasks[int(rng.integers(len(self.tasks)))]
        tests = []
        for _ in range(self.config.num_tests):
            args = task.make_args(rng, self.config.difficulty)
            tests.append({"args": args, "expected": task.solution(*json.loads(json.dumps(args)))})
        examples = "\n".join(
            f">>> {task.name}({', '.join(map(repr, t['args']))})\n{t['expected']!r}" for t in tests[:2]
        )
        prompt = (
            f"Write a Python function `{task.signature}` that {task.description}.\n\nExamples:\n{examples}\n\n"
            f"Hidden tests will call your function with other inputs. {CODE_FORMAT}"
        )
        return Problem(
            id=f"code/{task.name}/{seed}",
            domain="code",
            prompt=prompt,
            reference={"fn_name": task.name, "tests": tests},
            verifier="code",
            answer_format="code_block",
            difficulty={"difficulty": self.config.difficulty, "tier": task.tier, "num_tests": self.config.num_tests},
            solution=f"```python\n{task.source}```",
            meta={"task": task.name},
        )


class CodeEnv(ReasoningEnv):
    """Write a Python function that passes hidden tests (procedural tasks or a dataset); see the module docstring."""

    def __init__(
        self,
        difficulty: int = 2,
        num_tests: int = 8,
        tasks: list[str] | None = None,
        dataset: str | None = None,
        mapping: dict[str, str] | None = None,
        shuffle_seed: int | None = None,
        max_turns: int = 1,
        verifier: Verifier | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.config = CodeConfig(difficulty, num_tests, None if tasks is None else tuple(tasks))
        source: Any = (
            CodeSource(self.config)
            if dataset is None
            else DatasetSource(dataset, mapping=mapping, domain="code", shuffle_seed=shuffle_seed)
        )
        super().__init__(source, verifier=verifier, max_turns=max_turns, render_mode=render_mode)

    def negative_responses(self) -> list[str]:
        if self.problem is None:
            raise RuntimeError("call reset() before negative_responses()")
        name = self.problem.reference.get("fn_name", "solution")
        wrong = f"```python\ndef {name}(*args):\n    return None\n```"
        # Two programs: the verifier takes the last one, so "the right one somewhere" earns nothing.
        hedge = f"{self.problem.solution or ''}\n\nOr maybe:\n{wrong}"
        return ["", wrong, hedge]


class CodeFeedbackEnv(CodeEnv):
    """Multi-turn code: the failing tests' summary comes back as the next prompt, up to `max_turns`."""

    def __init__(self, max_turns: int = 3, **kwargs: Any) -> None:
        super().__init__(max_turns=max_turns, **kwargs)

    def next_turn(self, problem: Problem, response: str, verdict: Verdict) -> str | None:
        if verdict.status == "error":
            return None  # our infrastructure failed: feedback would blame the model for it
        return f"Your program did not pass every test ({verdict.status}): {verdict.detail}\n\nFix it. {CODE_FORMAT}"
