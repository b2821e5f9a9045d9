"""Any registered rlvr env served through openenv-core's own server (`rlvr serve rlvr/Math-v0 --port 8000`).

`RlvrEnvironment` is an OpenEnv `Environment` over one Gymnasium env; `create_app` hands it to OpenEnv's
`create_app` factory (its HTTPEnvServer: `/ws` sessions, `/reset`, `/step`, `/state`, `/schema`, `/health`,
`/metadata`), so any OpenEnv client talks to it, e.g. `GenericEnvClient(base_url=url).sync()`:

    reset(seed=3)                     -> observation {"prompt", "verdict": None, "info", "truncated"}, done False
    step({"response": "\\boxed{12}"}) -> observation {"prompt": next prompt or "", "verdict": {...}, ...},
                                         reward (the env's), done (terminated or truncated)

Every WebSocket session gets its own env instance (up to `max_sessions`; idle ones are closed after
`session_timeout_s`). `reset` takes `seed` (the same seed gives the same problem as `gym.make(env_id, **kwargs)`
locally), `episode_id`, and `env_kwargs` (rebuild this session's env with these constructor arguments over the
server's; not `dataset`, at any depth: a client does not choose which server file is read). The observation's
`info` is the env's info without the reference (the answer stays on the server).

Verification runs as in-process use does: code in a fresh sandbox per program; with `verifier_backend` ("bwrap",
"process", "ray") through `VerifierPool`s shared by all sessions (started once, hard per-item timeouts).
Bounds: a message or request body over `max_request_bytes` is refused (HTTP 413; a WebSocket message closes that
session with code 1009), and a reset or step that takes longer than `step_timeout_s` answers with an error at once
and drops that session's env (an env rebuild asked by a reset's env_kwargs is bounded alike and keeps the session's
env; a runaway in-process verification keeps its thread until it ends: use a `verifier_backend` for a hard kill).
A malformed action gets OpenEnv's validation error, naming the field, and the server and the session go on.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import importlib
import json
import threading
from typing import Any

from openenv.core.env_server.http_server import create_app as openenv_create_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, ConcurrencyConfig, EnvironmentMetadata, Observation, State
from pydantic import Field

from rlvr.envs.base import MAX_TEXT

HIDDEN_INFO = ("reference",)  # info keys that never leave the server ("verdict" is the observation's own field)
FILE_KWARGS = ("dataset",)  # constructor arguments that name a file on the server: only the server's own kwargs may


class RlvrAction(Action):
    """The model's response to the current prompt."""

    response: str = Field(..., max_length=MAX_TEXT, description="the model's response to the current prompt")


class RlvrObservation(Observation):
    """The prompt to answer next ("" once the episode is over) and the verdict on the last response."""

    prompt: str = Field(default="", description="the prompt to answer next; empty when the episode is over")
    verdict: dict[str, Any] | None = Field(default=None, description="status, reward, extracted, detail")
    info: dict[str, Any] = Field(default_factory=dict, description="problem id, domain, turn, ... (no reference)")
    truncated: bool = Field(default=False, description="the episode hit its turn limit")


class RlvrState(State):
    env_id: str = ""
    problem_id: str | None = None
    seed: int | None = None


class RequestError(ValueError):
    """A request this env cannot serve (unknown reset field, step before reset, a step that ran too long)."""


class SharedVerifiers:
    """One env whose verifiers (VerifierPools) every session borrows, so pools start once per server."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], backend: str) -> None:
        import gymnasium as gym

        self.owner = gym.make(env_id, **env_kwargs).unwrapped
        self.owner.verifier_backend = backend
        self.lock = threading.Lock()

    def lend(self, env: Any) -> None:
        env.unwrapped.borrow_verifiers(self.owner)

    def prepare(self, env: Any) -> None:
        """Make the current problem's verifier under a lock, so two sessions never start the same pool twice."""
        with self.lock:
            env.unwrapped.verifier_for(env.unwrapped.problem)

    def close(self) -> None:
        self.owner.close()


class RlvrEnvironment(Environment[RlvrAction, RlvrObservation, RlvrState]):
    """One session's env: `gym.make(env_id, **env_kwargs)`, built at the first reset, run on its own thread so
    that a reset or step can be bounded by `step_timeout_s`."""

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any] | None = None,
        step_timeout_s: float = 60.0,
        shared: SharedVerifiers | None = None,
    ) -> None:
        super().__init__()
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs or {})
        self.step_timeout_s, self.shared = step_timeout_s, shared
        self._env: Any = None
        self._env_key: str | None = None
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        self._state = RlvrState(env_id=env_id)
        self._done = True

    def reset(self, seed: int | None = None, episode_id: str | None = None, **fields: Any) -> RlvrObservation:
        env_kwargs = fields.pop("env_kwargs", None)
        if fields:
            raise RequestError(f"unknown reset field(s) {sorted(fields)}; allowed: seed, episode_id, env_kwargs")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise RequestError(f"seed must be a non-negative integer, got {seed!r}")
        if env_kwargs is not None and not isinstance(env_kwargs, dict):
            raise RequestError(f"env_kwargs must be an object of env constructor arguments, got {env_kwargs!r}")
        if (where := _names_a_file(env_kwargs, "env_kwargs")) is not None:
            raise RequestError(f"{where} names a file on the server, which a client may not choose; the server's own "
                               "kwargs (rlvr serve --kwargs) may")  # fmt: skip
        kwargs = {**self.env_kwargs, **(env_kwargs or {})}
        key = json.dumps(kwargs, sort_keys=True, default=str)
        if self._env is None or key != self._env_key:
            self._replace_env(kwargs, key)
        env = self._env
        prompt, info = self._call(lambda: env.reset(seed=seed), "reset")
        self._state = RlvrState(
            episode_id=episode_id, step_count=0, env_id=self.env_id, problem_id=info.get("problem_id"),
            seed=info.get("seed"),
        )  # fmt: skip
        self._done = False
        return RlvrObservation(prompt=prompt, info=_public(info))

    def step(self, action: RlvrAction, timeout_s: float | None = None, **kwargs: Any) -> RlvrObservation:
        if self._env is None or self._done:
            raise RequestError("no episode in progress: reset first (single-turn episodes end after one step)")

        env, shared = self._env, self.shared  # not self._env inside: a timeout may drop it while this runs

        def run():
            if shared is not None:
                shared.prepare(env)
            return env.step(action.response)

        prompt, reward, terminated, truncated, info = self._call(run, "step", timeout_s)
        self._state.step_count += 1
        self._done = bool(terminated or truncated)
        return RlvrObservation(
            prompt=prompt, verdict=info.get("verdict"), info=_public(info), truncated=bool(truncated),
            reward=float(reward), done=self._done,
        )  # fmt: skip

    @property
    def state(self) -> RlvrState:
        return self._state

    def get_metadata(self) -> EnvironmentMetadata:
        import rlvr

        return EnvironmentMetadata(name=self.env_id, description=describe(self.env_id), version=rlvr.__version__)

    def close(self) -> None:
        self._drop_env()

    def _replace_env(self, kwargs: dict[str, Any], key: str) -> None:
        import gymnasium as gym

        import rlvr  # noqa: F401 - registers the ids

        def make():
            try:
                return gym.make(self.env_id, **kwargs)
            except (TypeError, ValueError, gym.error.Error) as e:
                raise RequestError(f"cannot make {self.env_id} with env_kwargs {kwargs}: {e}") from e

        # built on its own thread, bounded like a reset: a client's env_kwargs can ask for a slow build (a mixture of
        # thousands of audited reasoning-gym tasks); past the limit the env is closed once it is built
        builder = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rlvr-make")
        future = builder.submit(make)
        builder.shutdown(wait=False)
        try:
            env = future.result(timeout=self.step_timeout_s)
        except concurrent.futures.TimeoutError:
            future.add_done_callback(_close_when_built)
            raise RequestError(
                f"building {self.env_id} with env_kwargs took longer than {self.step_timeout_s:g} s"
            ) from None
        if self.shared is not None:
            self.shared.lend(env)
        self._drop_env()
        self._env, self._env_key = env, key
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rlvr-session")

    def _call(self, fn: Any, what: str, timeout_s: float | None = None) -> Any:
        """Run fn on this session's thread; past the time limit, drop the env (its thread may still be busy)."""
        limit = min(self.step_timeout_s, timeout_s) if timeout_s else self.step_timeout_s
        future = self._worker.submit(fn)
        try:
            return future.result(timeout=limit)
        except concurrent.futures.TimeoutError:
            self._drop_env(wait=False)
            raise RequestError(
                f"{what} took longer than {limit:g} s; this session's env was dropped: reset again"
            ) from None

    def _drop_env(self, wait: bool = True) -> None:
        env, worker = self._env, self._worker
        self._env = self._env_key = self._worker = None
        self._done = True
        if worker is None:
            return
        if wait:
            worker.submit(env.close).result()
            worker.shutdown()
        else:  # the thread is stuck in a call: close the env once that call returns
            worker.submit(env.close)
            worker.shutdown(wait=False)


def _close_when_built(future: concurrent.futures.Future) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().close()


def _names_a_file(value: Any, where: str) -> str | None:
    """Where in a client's env_kwargs a `FILE_KWARGS` key is (e.g. "env_kwargs.envs[0].kwargs.dataset"), or None:
    a client that names a server file would be served its rows (a private evaluation set, any readable .jsonl)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in FILE_KWARGS and item is not None:
                return f"{where}.{key}"
            if (found := _names_a_file(item, f"{where}.{key}")) is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if (found := _names_a_file(item, f"{where}[{i}]")) is not None:
                return found
    return None


def _public(info: dict[str, Any]) -> dict[str, Any]:
    """The env's info as JSON, without what must stay on the server."""
    public = {k: v for k, v in info.items() if k not in HIDDEN_INFO and k != "verdict"}
    return json.loads(json.dumps(public, default=str))


def describe(env_id: str) -> str:
    """The first line of the env module's docstring (what `rlvr envs list` shows)."""
    import gymnasium as gym

    import rlvr  # noqa: F401 - registers the ids

    entry = gym.spec(env_id).entry_point
    module = entry.split(":")[0] if isinstance(entry, str) else entry.__module__
    doc = (importlib.import_module(module).__doc__ or "").strip().splitlines()
    return doc[0].split(": ", 1)[-1] if doc else env_id


class BodyLimit:
    """ASGI middleware: an HTTP request whose body is larger than `max_bytes` gets 413 (WebSocket messages are
    bounded by the server's `ws_max_size`). It also drops the WebSocketDisconnect that OpenEnv's `/ws` handler
    raises when it closes a socket the client has already closed (a normal end of session, not an error)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            from starlette.websockets import WebSocketDisconnect

            with contextlib.suppress(WebSocketDisconnect):
                await self.app(scope, receive, send)
            return None
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await _too_large(send, self.max_bytes)
        seen = 0

        async def bounded_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise RequestTooLarge
            return message

        try:
            await self.app(scope, bounded_receive, send)
        except RequestTooLarge:
            await _too_large(send, self.max_bytes)


class RequestTooLarge(Exception):
    pass


async def _too_large(send: Any, max_bytes: int) -> None:
    body = json.dumps({"detail": f"request body larger than {max_bytes} bytes"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    *,
    max_sessions: int = 64,
    session_timeout_s: float = 600.0,
    step_timeout_s: float = 60.0,
    max_request_bytes: int = 4 << 20,
    verifier_backend: str | None = None,
) -> Any:
    """The FastAPI app serving `env_id` through OpenEnv's server. Builds one env first, so a bad id or kwargs
    fails here (ValueError) rather than in the first session."""
    import gymnasium as gym
    from fastapi.responses import JSONResponse

    import rlvr  # noqa: F401 - registers the ids

    env_kwargs = dict(env_kwargs or {})
    if env_id not in gym.registry:
        raise ValueError(f"unknown env id {env_id!r}; see `rlvr envs list`")
    for name, value in (("step_timeout_s", step_timeout_s), ("session_timeout_s", session_timeout_s)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
    if max_request_bytes < 1024:
        raise ValueError(f"max_request_bytes must be >= 1024, got {max_request_bytes!r}")
    try:
        gym.make(env_id, **env_kwargs).close()
    except (TypeError, ValueError, gym.error.Error) as e:
        raise ValueError(f"cannot make {env_id} with {env_kwargs}: {e}") from e
    shared = SharedVerifiers(env_id, env_kwargs, verifier_backend) if verifier_backend else None
    factory = functools.partial(RlvrEnvironment, env_id, env_kwargs, step_timeout_s, shared)
    app = openenv_create_app(
        factory, RlvrAction, RlvrObservation, env_name=env_id,
        concurrency_config=ConcurrencyConfig(max_concurrent_envs=max_sessions, session_timeout=session_timeout_s),
    )  # fmt: skip

    async def request_error(request: Any, exc: RequestError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    app.add_exception_handler(RequestError, request_error)
    app.add_middleware(BodyLimit, max_bytes=max_request_bytes)
    if shared is not None:
        app.router.on_shutdown.append(shared.close)
    app.state.max_request_bytes = max_request_bytes
    return app


def serve(env_id: str, env_kwargs: dict[str, Any] | None = None, host: str = "127.0.0.1", port: int = 8000,
          **options: Any) -> None:  # fmt: skip
    """Run `create_app(env_id, env_kwargs, **options)` under uvicorn until interrupted (loopback unless `host`)."""
    import uvicorn

    app = create_app(env_id, env_kwargs, **options)
    uvicorn.run(app, host=host, port=port, ws_max_size=app.state.max_request_bytes, log_level="warning")


def app_from_environ() -> Any:
    """`create_app` for the env named by $RLVR_ENV, with $RLVR_ENV_KWARGS (a JSON object): what a process manager
    that runs `uvicorn rlvr.integrations.openenv:app` (openenv.yaml's `app`) gets."""
    import os

    env_id = os.environ.get("RLVR_ENV")
    if not env_id:
        raise ValueError("set RLVR_ENV to the env id to serve, e.g. RLVR_ENV=rlvr/Math-v0")
    from rlvr.integrations.common import env_kwargs_json

    return create_app(env_id, env_kwargs_json(os.environ.get("RLVR_ENV_KWARGS") or "{}", "RLVR_ENV_KWARGS"))


def __getattr__(name: str) -> Any:
    # `app` is built on first access (uvicorn's getattr), not at import: it needs $RLVR_ENV.
    if name == "app":
        return app_from_environ()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
