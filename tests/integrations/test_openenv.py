"""`rlvr serve` against OpenEnv's own client (GenericEnvClient) on a real server process on a loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import gymnasium as gym
import pytest

import rlvr  # noqa: F401 - registers the ids

pytestmark = pytest.mark.openenv

MAX_REQUEST = 65536
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def math_url(server):
    with server("rlvr/Math-v0", "--kwargs", '{"difficulty": 4}', "--max-request-bytes", str(MAX_REQUEST)) as url:
        yield url


def client(url):
    from openenv.core.generic_client import GenericEnvClient

    return GenericEnvClient(base_url=url).sync()


def local(env_id, seed, **kwargs):
    env = gym.make(env_id, **kwargs)
    prompt, info = env.reset(seed=seed)
    return env, prompt, info


def post(url, payload, raw=None):
    data = raw if raw is not None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_same_seed_same_prompt_reference_scores_1_wrong_scores_0(math_url):
    with client(math_url) as env:
        for seed in (0, 7, 123456789):
            ref_env, prompt, info = local("rlvr/Math-v0", seed, difficulty=4)
            result = env.reset(seed=seed)
            assert result.observation["prompt"] == prompt
            assert result.done is False and result.reward is None
            assert result.observation["info"]["problem_id"] == info["problem_id"]
            assert "reference" not in result.observation["info"]  # the answer stays on the server

            result = env.step({"response": ref_env.unwrapped.reference_response()})
            assert result.reward == 1.0 and result.done is True
            assert result.observation["verdict"]["status"] == "correct"
            assert result.observation["prompt"] == ""
            assert "verdict" not in result.observation["info"]  # it is the observation's own field

            env.reset(seed=seed)
            result = env.step({"response": r"\boxed{" + str(info["reference"]) + "1}"})
            assert result.reward == 0.0 and result.done is True
            assert result.observation["verdict"]["status"] == "incorrect"


def test_env_kwargs_at_reset_rebuild_the_session_env(math_url):
    with client(math_url) as env:
        _, prompt, _ = local("rlvr/Math-v0", 5, difficulty=9)
        assert env.reset(seed=5, env_kwargs={"difficulty": 9}).observation["prompt"] == prompt
        _, prompt, _ = local("rlvr/Math-v0", 5, difficulty=4)
        assert env.reset(seed=5).observation["prompt"] == prompt  # back to the server's kwargs


def test_a_client_cannot_make_the_server_read_a_file_it_names(math_url, tmp_path):
    """env_kwargs {"dataset": PATH} made the server load PATH and serve its rows' prompts to the client (a private
    held-out set, any readable .jsonl/.json/.parquet) and said whether other paths exist."""
    private = tmp_path / "private.jsonl"
    private.write_text(json.dumps({"problem": "SECRET held-out question", "answer": "7"}) + "\n", encoding="utf-8")
    with client(math_url) as env:
        with pytest.raises(RuntimeError, match=r"env_kwargs\.dataset names a file on the server") as caught:
            env.reset(seed=0, env_kwargs={"dataset": str(private)})
        assert "SECRET" not in str(caught.value)
        _, prompt, _ = local("rlvr/Math-v0", 0, difficulty=4)
        assert env.reset(seed=0).observation["prompt"] == prompt  # the session goes on with the server's env
    status, body = post(f"{math_url}/reset", {"seed": 0, "env_kwargs": {"dataset": str(private)}})
    assert status == 400 and "names a file on the server" in body["detail"] and "SECRET" not in json.dumps(body)


def test_a_file_named_deep_in_a_mixtures_kwargs_is_refused_too(tmp_path):
    from rlvr.integrations.openenv import RequestError, RlvrEnvironment

    private = tmp_path / "p.jsonl"
    private.write_text(json.dumps({"problem": "SECRET", "answer": "7"}) + "\n", encoding="utf-8")
    env = RlvrEnvironment("rlvr/Mixture-v0", {})
    try:
        envs = [{"id": "rlvr/STEM-v0", "weight": 1}, {"id": "rlvr/Math-v0", "kwargs": {"dataset": str(private)}}]
        with pytest.raises(RequestError, match=r"env_kwargs\.envs\[1\]\.kwargs\.dataset names a file"):
            env.reset(seed=0, env_kwargs={"envs": envs})
        mapping = {"envs": {"rlvr/Math-v0": 1}, "env_kwargs": {"rlvr/Math-v0": {"dataset": str(private)}}}
        with pytest.raises(RequestError, match=r"env_kwargs\.env_kwargs\.rlvr/Math-v0\.dataset names a file"):
            env.reset(seed=0, env_kwargs=mapping)
        assert env.reset(seed=0, env_kwargs={"envs": envs[:1]}).prompt  # other kwargs still rebuild the env
    finally:
        env.close()


def test_many_sessions_at_once_each_with_its_own_env(math_url):
    seeds = list(range(100, 116))
    clients = [client(math_url) for _ in seeds]
    try:
        for c in clients:
            c.connect()
        with ThreadPoolExecutor(len(clients)) as pool:
            resets = list(pool.map(lambda cs: cs[0].reset(seed=cs[1]), zip(clients, seeds, strict=True)))
            prompts = [r.observation["prompt"] for r in resets]
            # every session has been reset before any steps: each must still hold its own problem
            answers = [local("rlvr/Math-v0", s, difficulty=4)[0].unwrapped.reference_response() for s in seeds]
            results = list(pool.map(lambda ca: ca[0].step({"response": ca[1]}), zip(clients, answers, strict=True)))
        assert prompts == [local("rlvr/Math-v0", s, difficulty=4)[1] for s in seeds]
        assert [r.reward for r in results] == [1.0] * len(seeds)
    finally:
        for c in clients:
            c.close()


def test_malformed_actions_get_a_clear_error_and_the_server_goes_on(math_url):
    with client(math_url) as env:
        ref_env, _, _ = local("rlvr/Math-v0", 11, difficulty=4)
        env.reset(seed=11)
        for bad in ({"resp": "x"}, {"response": 42}, {}):
            with pytest.raises(RuntimeError, match="VALIDATION_ERROR"):
                env.step(bad)
        with pytest.raises(RuntimeError, match=r"unknown reset field\(s\) \['sed'\]"):
            env.reset(sed=3)
        with pytest.raises(RuntimeError, match="seed must be a non-negative integer"):
            env.reset(seed="three")
        with pytest.raises(RuntimeError, match="cannot make rlvr/Math-v0"):
            env.reset(seed=1, env_kwargs={"difficulty": 99})
        # the same session still has its episode and scores it
        env.reset(seed=11)
        assert env.step({"response": ref_env.unwrapped.reference_response()}).reward == 1.0
        with pytest.raises(RuntimeError, match="reset first"):
            env.step({"response": "again"})

    # the error message carries the field: over the WebSocket (the client's own send/receive, which its public step
    # turns into a RuntimeError with the message and code only) and over HTTP
    import asyncio

    from openenv.core.generic_client import GenericEnvClient

    async def raw_step(data):
        c = GenericEnvClient(base_url=math_url)
        try:
            await c.reset(seed=1)
            await c._send({"type": "step", "data": data})
            return await c._receive()
        finally:
            await c.close()

    answer = asyncio.run(raw_step({"resp": "x"}))
    assert answer["type"] == "error" and answer["data"]["code"] == "VALIDATION_ERROR"
    assert ["response"] in [e["loc"] for e in answer["data"]["errors"]]
    status, body = post(f"{math_url}/step", {"action": {"resp": "x"}})
    assert status == 422 and ["response"] in [e["loc"] for e in body["detail"]]
    status, body = post(f"{math_url}/step", {"action": {"response": "x"}})
    assert status == 400 and "reset first" in body["detail"]


def test_requests_over_the_size_limit_are_refused_and_the_server_goes_on(math_url):
    status, body = post(f"{math_url}/step", None, raw=b'{"action": {"response": "' + b"x" * MAX_REQUEST + b'"}}')
    assert status == 413 and str(MAX_REQUEST) in body["detail"]
    with client(math_url) as env:
        env.reset(seed=1)
        with pytest.raises(Exception):  # noqa: B017 - the socket is closed (1009): the client raises its own error
            env.step({"response": "x" * MAX_REQUEST})
    with client(math_url) as env:
        ref_env, _, _ = local("rlvr/Math-v0", 2, difficulty=4)
        env.reset(seed=2)
        assert env.step({"response": ref_env.unwrapped.reference_response()}).reward == 1.0


def test_openenv_runtime_validation_passes(math_url):
    from openenv.cli._validation import validate_running_environment

    report = validate_running_environment(math_url, timeout_s=30)
    assert report["passed"], json.dumps(report["criteria"], indent=1)
    with urllib.request.urlopen(f"{math_url}/metadata", timeout=30) as r:
        assert json.loads(r.read())["name"] == "rlvr/Math-v0"


@pytest.mark.bwrap
def test_multi_turn_code_feedback_over_several_steps(server):
    with server("rlvr/CodeFeedback-v0", "--kwargs", '{"max_turns": 3}') as url, client(url) as env:
        ref_env, prompt, _ = local("rlvr/CodeFeedback-v0", 4, max_turns=3)
        wrong = ref_env.unwrapped.negative_responses()[1]
        assert env.reset(seed=4).observation["prompt"] == prompt
        first = env.step({"response": wrong})
        assert first.done is False and first.reward < 1.0
        assert first.observation["prompt"].startswith("Your program did not pass every test")
        assert first.observation["info"]["turn"] == 1
        second = env.step({"response": ref_env.unwrapped.reference_response()})
        assert second.reward == 1.0 and second.done is True
        assert second.observation["info"]["turn"] == 2

        env.reset(seed=4)
        results = [env.step({"response": wrong}) for _ in range(3)]
        assert [r.done for r in results] == [False, False, True]
        assert results[-1].observation["truncated"] is True


def test_a_step_over_the_time_limit_errors_and_the_session_recovers():
    """In-process: a verifier that hangs makes the step fail after step_timeout_s; a reset gives a fresh env."""
    import threading

    from rlvr.integrations.openenv import RequestError, RlvrAction, RlvrEnvironment
    from rlvr.verifiers import Verdict, Verifier

    release = threading.Event()

    class Hangs(Verifier):
        name = "hangs"

        def _verify(self, response, reference):
            release.wait(30)
            return Verdict("incorrect", 0.0)

    env = RlvrEnvironment("rlvr/Math-v0", {}, step_timeout_s=2.0)
    try:
        env.reset(seed=0)  # a first step loads the math verifier (sympy), which may take a while on a busy machine
        with contextlib.suppress(RequestError):
            env.step(RlvrAction(response="1"))
        env.reset(seed=0)
        env._env.unwrapped._verifier = Hangs()
        started = time.monotonic()
        with pytest.raises(RequestError, match="step took longer than 2 s"):
            env.step(RlvrAction(response="1"))
        assert time.monotonic() - started < 20  # answered at the limit, not when the verifier returned
        with pytest.raises(RequestError, match="reset first"):
            env.step(RlvrAction(response="1"))
        release.set()
        env.reset(seed=0)
        assert env.step(RlvrAction(response=env._env.unwrapped.reference_response())).reward == 1.0
    finally:
        release.set()
        env.close()


def test_the_manifests_app_serves_the_env_named_in_the_environment(process_server):
    """openenv.yaml's `app`, run the way OpenEnv's runtime providers run it (uvicorn APP), with $RLVR_ENV."""
    import yaml

    with open(os.path.join(ROOT, "openenv.yaml"), encoding="utf-8") as f:
        manifest = yaml.safe_load(f)
    assert manifest["spec_version"] == 1 and manifest["runtime"] == "fastapi" and manifest["port"] == 8000
    assert set(manifest["variables"]) == {"RLVR_ENV", "RLVR_ENV_KWARGS"}
    argv = lambda port: ["-m", "uvicorn", manifest["app"], "--host", "127.0.0.1", "--port", str(port)]  # noqa: E731
    kwargs = {"size": 4, "blanks": 8}
    extra = {"RLVR_ENV": "rlvr/Sudoku-v0", "RLVR_ENV_KWARGS": json.dumps(kwargs)}
    with process_server(argv, extra) as url, client(url) as env:
        ref_env, prompt, _ = local("rlvr/Sudoku-v0", 9, **kwargs)
        assert env.reset(seed=9).observation["prompt"] == prompt
        assert env.step({"response": ref_env.unwrapped.reference_response()}).reward == 1.0


def test_app_from_environ_names_what_is_missing(monkeypatch):
    from rlvr.integrations import openenv as served

    monkeypatch.delenv("RLVR_ENV", raising=False)
    with pytest.raises(ValueError, match="set RLVR_ENV"):
        served.app  # noqa: B018 - the module attribute is built on access
    monkeypatch.setenv("RLVR_ENV", "rlvr/Math-v0")
    monkeypatch.setenv("RLVR_ENV_KWARGS", "[]")
    with pytest.raises(ValueError, match="RLVR_ENV_KWARGS must be a JSON object"):
        served.app_from_environ()


def test_sessions_share_one_verifier_pool_per_name():
    """With a verifier backend, every session borrows the server's pools: one pool per verifier name, not one per
    session, started once however many sessions step at the same moment; closing a session leaves it running."""
    from rlvr.integrations.openenv import RlvrAction, RlvrEnvironment, SharedVerifiers
    from rlvr.verifiers.pool import VerifierPool

    shared = SharedVerifiers("rlvr/Math-v0", {}, "process")
    sessions = [RlvrEnvironment("rlvr/Math-v0", {}, step_timeout_s=120, shared=shared) for _ in range(4)]
    try:

        def episode(i):
            env = sessions[i]
            env.reset(seed=i)
            return env.step(RlvrAction(response=env._env.unwrapped.reference_response())).reward

        with ThreadPoolExecutor(len(sessions)) as pool:
            assert list(pool.map(episode, range(len(sessions)))) == [1.0] * len(sessions)
        assert list(shared.owner._verifiers) == ["math"]
        assert isinstance(shared.owner._verifiers["math"], VerifierPool)
        assert all(s._env.unwrapped._verifiers is shared.owner._verifiers for s in sessions)
        sessions[0].close()
        assert episode(1) == 1.0  # the pool outlives a closed session
    finally:
        for s in sessions:
            s.close()
        shared.close()


@pytest.mark.bwrap
def test_served_verification_through_a_bwrap_pool(server):
    with server("rlvr/Math-v0", "--verifier-backend", "bwrap") as url, client(url) as env:
        ref_env, prompt, info = local("rlvr/Math-v0", 21)
        assert env.reset(seed=21).observation["prompt"] == prompt
        assert env.step({"response": ref_env.unwrapped.reference_response()}).reward == 1.0
        env.reset(seed=21)
        assert env.step({"response": r"\boxed{" + str(info["reference"]) + "1}"}).reward == 0.0


def test_serve_refuses_a_bad_env_or_kwargs_before_listening():
    from rlvr.cli import main

    assert main(["serve", "rlvr/Nope-v0"]) == 2
    assert main(["serve", "rlvr/Math-v0", "--kwargs", "[1]"]) == 2
    assert main(["serve", "rlvr/Math-v0", "--kwargs", '{"difficulty": 99}']) == 2


def test_a_slow_env_rebuild_at_reset_is_bounded_by_the_step_timeout():
    """A client's env_kwargs can ask for a build that takes minutes (thousands of audited mixture components): the
    reset answers at step_timeout_s, the session keeps its env, and the env built late is closed."""
    import threading

    from rlvr.envs.math import MathEnv
    from rlvr.integrations.openenv import RequestError, RlvrEnvironment

    release, built, closed = threading.Event(), [], []

    class SlowToBuild(MathEnv):
        def __init__(self, build_wait: bool = False, **kwargs):
            if build_wait:
                release.wait(30)
            super().__init__(**kwargs)
            built.append(self)

        def close(self):
            closed.append(self)
            super().close()

    gym.register("rlvr_tests/SlowToBuild-v0", entry_point=SlowToBuild, disable_env_checker=True)
    env = RlvrEnvironment("rlvr_tests/SlowToBuild-v0", {}, step_timeout_s=2.0)
    try:
        first = env.reset(seed=4).prompt
        started = time.monotonic()
        with pytest.raises(RequestError, match="took longer than 2 s"):
            env.reset(seed=4, env_kwargs={"build_wait": True})
        assert time.monotonic() - started < 20
        assert env.reset(seed=4).prompt == first  # the session's env was kept
        release.set()
        deadline = time.monotonic() + 20
        while built[-1] not in closed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(built) == 2 and built[1] in closed and built[0] not in closed  # the late one closed, not ours
    finally:
        release.set()
        env.close()
        gym.registry.pop("rlvr_tests/SlowToBuild-v0", None)
