"""The one result type every verifier returns, and the base class that keeps verifiers from raising."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

Status = Literal["correct", "incorrect", "unparsed", "timeout", "error"]
STATUSES: tuple[str, ...] = ("correct", "incorrect", "unparsed", "timeout", "error")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What a verifier concluded about one response.

    `status` separates "no answer found" (`unparsed`), "wrong" (`incorrect`), "ran out of time"
    (`timeout`) and "our infrastructure failed" (`error`, never the model's fault: the trainer masks
    such samples instead of scoring them 0). `reward` is in [0, 1]; partial credit (fraction of
    tests or constraints passed) is possible where a verifier documents it. `steps`: the step verdicts
    (start, end, score) in response characters, from a verifier asked for them (`Verifier.with_steps`);
    `to_dict` leaves them out when there are none. `step_error`: why the step checker failed on this response (its
    steps then go unscored; the trainer counts these), "" otherwise and left out of `to_dict`.
    """

    status: Status
    reward: float = 0.0
    extracted: str | None = None
    detail: str = ""
    steps: tuple[tuple[int, int, float], ...] = ()
    step_error: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Verdict.status must be one of {STATUSES}, got {self.status!r}")
        if not 0.0 <= self.reward <= 1.0:
            raise ValueError(f"Verdict.reward must be in [0, 1], got {self.reward!r}")

    @property
    def correct(self) -> bool:
        return self.status == "correct"

    def to_dict(self) -> dict[str, Any]:
        out = dict(vars(self))  # flat and immutable fields: no deep copy needed
        if self.steps:
            out["steps"] = [list(s) for s in self.steps]
        else:
            del out["steps"]
        if not self.step_error:
            del out["step_error"]
        return out


class Verifier:
    """Base class: subclasses implement `_verify`; `verify` guarantees a Verdict, never an exception.

    An exception escaping `_verify` is a bug in our code, not the model's fault, so it becomes an
    `error` verdict (masked by the trainer) rather than a crash or a silent 0.
    """

    name: str = "base"
    concurrent: bool = False  # verify waits on another process (a sandbox): verify_batch runs pairs in threads
    with_steps: bool = False  # also score the response's steps into Verdict.steps (verifiers with `verify_steps`)

    @property
    def step_checker(self) -> bool:
        """Whether `verify_steps(response, reference)` scores a response's steps (the trainer's dual reward)."""
        return callable(getattr(self, "verify_steps", None))

    def verify(self, response: str, reference: Any) -> Verdict:
        try:
            verdict = self._verify(response, reference)
        except Exception as e:  # noqa: BLE001 - the contract is "never raises on model output"
            return Verdict("error", 0.0, None, f"verifier {self.name} failed: {type(e).__name__}: {e}"[:500])
        if not self.with_steps or not self.step_checker or verdict.status == "error":
            return verdict
        try:
            steps = tuple((int(s.start), int(s.end), float(s.score)) for s in self.verify_steps(response, reference))
        except Exception as e:  # noqa: BLE001 - a step checker's failure leaves the steps unscored, not the verdict
            return dataclasses.replace(verdict, step_error=f"{type(e).__name__}: {e}"[:200])
        return dataclasses.replace(verdict, steps=steps)

    def _verify(self, response: str, reference: Any) -> Verdict:
        raise NotImplementedError

    def verify_batch(self, pairs: Iterable[tuple[str, Any]], max_workers: int | None = None) -> list[Verdict]:
        """Verify (response, reference) pairs, in threads when the verifier is `concurrent` (pure-Python work gains
        nothing from threads under the GIL and pays for starting them: 17 ms against 1.4 ms for 128 parity
        checks); the result keeps the input order."""
        pairs = list(pairs)
        if len(pairs) <= 1 or max_workers == 1 or not self.concurrent:
            return [self.verify(r, ref) for r, ref in pairs]
        with ThreadPoolExecutor(max_workers=max_workers) as ex:
            return list(ex.map(lambda p: self.verify(*p), pairs))
