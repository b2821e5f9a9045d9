"""The verifier pool's Ray backend: one Ray actor per worker, each hosting a one-worker local pool.

    pool = VerifierPool("math", workers=64, backend="ray")   # ray.init(address=...) first, or Ray starts locally

Why this shape: the actor is trusted code that only relays; the untrusted parsing happens in the
actor's own sandboxed worker process (`ray_worker_backend`, bwrap by default), under the same framing,
per-item deadline and crash handling as a local pool. Ray carries (response, reference) to the actor
and a verdict dict back; the driver validates that dict into a Verdict again. An actor answers one
item at a time and needs `num_cpus=1`.

Deadlines: the actor enforces `item_timeout_s` itself (its worker is killed and the item gets
`timeout`). The driver waits `item_timeout_s + start_timeout_s + 5 s` at most (a replaced worker
restarts inside the actor, on the next item) and treats a silent or dead actor as infrastructure:
`error`, the actor is killed, and a new one takes its place on the next item.

Not handled: nodes with a different file layout (the verifier's source and the Python environment
must be at the same paths on every node: one image for the cluster); Ray placement or resources
beyond one CPU per actor. `ray` is imported lazily: `import rlvr.verifiers.pool` never needs it.
"""

from __future__ import annotations

import time
from typing import Any

from rlvr.verifiers.base import Verdict
from rlvr.verifiers.pool import VerifierPool, WorkerFailed, WorkerSpec
from rlvr.verifiers.worker import ProtocolError, verdict_from_wire

_DRIVER_GRACE_S = 5.0


class VerifierActor:
    """Runs in a Ray worker process: a one-worker local VerifierPool (see pool.py)."""

    def __init__(self, spec: WorkerSpec, backend: str) -> None:
        self.pool = VerifierPool.from_spec(spec, workers=1, backend=backend)

    def ready(self) -> bool:
        return True

    def verify(self, response: str, reference: Any) -> dict[str, Any]:
        return self.pool.verify(response, reference).to_dict()

    def worker_pids(self) -> list[int]:
        return self.pool.worker_pids()


class RayWorker:
    """One actor as the pool sees it (the Endpoint protocol: wait_ready, call, kill)."""

    def __init__(self, spec: WorkerSpec, backend: str) -> None:
        try:
            import ray
        except ImportError:
            raise WorkerFailed('the ray backend needs Ray: pip install "ray>=2.40"') from None
        self._ray = ray
        self.spec = spec
        actor_class = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(VerifierActor)
        self.actor = actor_class.remote(spec, backend)

    def wait_ready(self, deadline: float) -> None:
        self._get(self.actor.ready.remote(), max(0.0, deadline - time.monotonic()))

    def call(self, response: str, reference: Any) -> Verdict:
        wait_s = self.spec.item_timeout_s + self.spec.start_timeout_s + _DRIVER_GRACE_S
        reply = self._get(self.actor.verify.remote(response, reference), wait_s)
        try:
            return verdict_from_wire(reply)
        except ProtocolError as e:
            raise WorkerFailed(f"ray actor answered garbage: {e}") from None

    def _get(self, ref: Any, timeout_s: float) -> Any:
        ray = self._ray
        try:
            return ray.get(ref, timeout=timeout_s)
        except ray.exceptions.GetTimeoutError:
            raise WorkerFailed(f"ray actor did not answer within {timeout_s:.0f}s") from None
        except ray.exceptions.RayActorError as e:
            cause = getattr(e, "cause", None) or getattr(e, "error_msg", "") or e
            config = isinstance(getattr(e, "cause", None), ValueError)
            raise WorkerFailed(f"ray actor died: {str(cause).strip().splitlines()[-1][:300]}", config=config) from None
        except ray.exceptions.RayError as e:
            raise WorkerFailed(f"ray call failed: {type(e).__name__}: {str(e)[:300]}") from None

    def alive(self) -> bool:
        """The actor's own pool replaces its worker when that died idle; a dead actor fails the call."""
        return True

    def worker_pids(self) -> list[int]:
        return self._ray.get(self.actor.worker_pids.remote(), timeout=30)

    def kill(self) -> None:
        try:
            self._ray.kill(self.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - the actor or the cluster may be gone already
            pass
