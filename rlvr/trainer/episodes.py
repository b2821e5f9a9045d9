"""Episodes: `reset`, then (response -> `step`)* until the env ends them or `rollout.max_turns`.

    episodes = collect_episodes(engine, venv, tok, seed, n=G, sampling=dict(temperature=1.0, ...), max_turns=0)
    batch = episode_batch(episodes, tok.pad_token_id)    # the env's tokens are context, never targets

Turn 1 writes n responses per prompt (the engine shares each prompt's prefill within the group). Every later turn
batches the episodes still running, whatever their group and however many turns the others took (per-turn
batching): the env's observation is appended to each episode's history (`env_ids`: a user turn of the chat template
with `chat_template`, else the plain text) and the model continues from the whole history, passed to the engine as
token ids, so the context holds exactly the tokens the model sampled (no re-tokenisation of its text). Each
history therefore extends the one its last sample continued, and the engine's continuation cache of that sample
(`keep_cache` / `caches`: the hf engine's KV cache, rollout/hf.py) spares the prefill of everything but the new
tokens. An episode's cache is dropped when the episode ends (nothing else refers to it: memory stays bounded by the
episodes still running); none is kept at the last turn an episode can reach (`max_turns`, or the env's
`max_turns`), so single-turn episodes keep none.

An episode's tokens after its first prompt alternate the model's (trained, with the sampler's log-probs) and the
env's (context only: masked out of the loss and the KL, sampler log-prob 0). Its reward is the env's: the sum over
its turns (`turn_reward="sum"`) or the last turn's; its status is the last verdict's (`error` if any turn's was).

A single-turn env ends every episode after its first `step`: an episode is then one engine sample, and the batch is
`make_batch` of the samples, as before episodes existed.

Not handled: histories longer than the model's context (the engine sees what it is given).
"""

from __future__ import annotations

import dataclasses
import time

from rlvr.trainer.model import TokenBatch, format_prompt, make_batch

TURN_REWARDS = ("sum", "last")


@dataclasses.dataclass
class Episode:
    """One episode. response_ids: every token after the first prompt, the model's and the env's in order; trained:
    per response token, True where the model wrote it; logprobs: the sampler's, 0.0 on the env's tokens."""

    prompt_ids: list[int]
    response_ids: list[int] = dataclasses.field(default_factory=list)
    trained: list[bool] = dataclasses.field(default_factory=list)
    logprobs: list[float] = dataclasses.field(default_factory=list)
    texts: list[str] = dataclasses.field(default_factory=list)  # the model's response of each turn
    observations: list[str] = dataclasses.field(default_factory=list)  # the env's reply after each turn but the last
    rewards: list[float] = dataclasses.field(default_factory=list)  # the env's reward of each turn
    verdicts: list = dataclasses.field(default_factory=list)  # each turn's verdict dict (None: not verified)
    finish_reasons: list[str] = dataclasses.field(default_factory=list)  # each turn's: stop | length
    turn_tokens: list[int] = dataclasses.field(default_factory=list)  # each turn's response tokens, final EOS excluded

    @property
    def turns(self) -> int:
        return len(self.texts)

    @property
    def text(self) -> str:
        """The last response."""
        return self.texts[-1] if self.texts else ""

    @property
    def finish_reason(self) -> str:
        """`length` if any turn ran into max_response_tokens, else `stop`."""
        return "length" if "length" in self.finish_reasons else "stop"

    @property
    def model_tokens(self) -> int:
        return sum(self.turn_tokens)

    @property
    def status(self) -> str:
        if not self.verdicts or any(v is None or v["status"] == "error" for v in self.verdicts):
            return "error"
        return self.verdicts[-1]["status"]

    def reward(self, turn_reward: str) -> float:
        if not self.rewards:
            return 0.0
        return float(sum(self.rewards)) if turn_reward == "sum" else float(self.rewards[-1])

    def add_response(self, sample, eos_id: int) -> None:
        self.response_ids += sample.response_ids
        self.trained += [True] * len(sample.response_ids)
        self.logprobs += list(sample.logprobs)
        self.texts.append(sample.text)
        self.finish_reasons.append(sample.finish_reason)
        ids = sample.response_ids
        self.turn_tokens.append(len(ids) - int(bool(ids) and ids[-1] == eos_id))

    def add_observation(self, text: str, ids: list[int]) -> None:
        self.response_ids += ids
        self.trained += [False] * len(ids)
        self.logprobs += [0.0] * len(ids)
        self.observations.append(text)


def env_ids(tok, observation: str, chat_template: bool, after_eos: bool = True) -> list[int]:
    """The tokens of the env's reply: the text alone, or with `chat_template` what the template writes after an
    assistant message's content (its closing, less the EOS when the model wrote that itself: `after_eos`), then a user
    turn holding the reply and the generation prompt."""
    if not chat_template:
        return tok(observation, add_special_tokens=False).input_ids
    mark = "<<rlvr-reply>>"
    base = [{"role": "user", "content": "x"}, {"role": "assistant", "content": mark}]
    before = tok.apply_chat_template(base, tokenize=False)
    after = tok.apply_chat_template([*base, {"role": "user", "content": observation}], tokenize=False,
                                    add_generation_prompt=True)  # fmt: skip
    if mark not in before or not after.startswith(before):
        raise ValueError("the chat template does not extend a conversation by appending to it; multi-turn needs that")
    closing = before[before.rindex(mark) + len(mark) :]
    if after_eos and tok.eos_token and closing.startswith(tok.eos_token):
        closing = closing[len(tok.eos_token) :]
    return tok(closing + after[len(before) :], add_special_tokens=False).input_ids


def collect_episodes(
    engine, venv, tok, seed: int, *, n: int, sampling: dict, max_turns: int = 0, chat_template: bool = False,
    times: dict | None = None, options: dict | None = None,
) -> list[Episode]:  # fmt: skip
    """Reset `venv` (its slots: groups of n) with `seed` (and `options`, e.g. {"seeds": [...]}: each group's problem
    seed) and play every slot's episode to its end or `max_turns` (0: the env's own limit). `sampling`: the engine's
    keyword arguments (temperature, top_p, max_response_tokens, stop_strings). `times` (optional) accumulates
    time_generate_s and time_verify_s."""
    times = times if times is not None else {}
    for key in ("time_generate_s", "time_verify_s"):
        times.setdefault(key, 0.0)
    t0 = time.perf_counter()
    prompts, _ = venv.reset(seed=seed, options=options)
    texts = [format_prompt(tok, p, chat_template) for p in prompts[::n]]
    limits = [m for m in (max_turns, getattr(getattr(venv, "env", None), "max_turns", 0)) if m]  # 0: no/unknown limit
    last = min(limits, default=0)  # the last turn an episode can reach (0: unknown)
    samples = engine.generate(texts, n, keep_cache=last != 1, **sampling)
    episodes = [Episode(list(s.prompt_ids)) for s in samples]
    live, turn, caches = list(range(len(episodes))), 0, {}
    while True:
        turn += 1
        for i, s in zip(live, samples, strict=True):
            episodes[i].add_response(s, tok.eos_token_id)
            caches[i] = s.cache
        samples = None  # `caches` holds the only references to the engine's continuation caches
        t1 = time.perf_counter()
        times["time_generate_s"] += t1 - t0
        actions = [""] * len(episodes)
        for i in live:
            actions[i] = episodes[i].text
        obs, rewards, terminated, truncated, infos = venv.step(actions)
        for i in live:
            episodes[i].rewards.append(float(rewards[i]))
            episodes[i].verdicts.append(infos["verdict"][i])
        live = [i for i in live if not (terminated[i] or truncated[i])]
        caches = {i: caches[i] for i in live}  # an ended episode's cache is released here
        t0 = time.perf_counter()
        times["time_verify_s"] += t0 - t1
        if not live or turn == max_turns:
            return episodes
        for i in live:
            after_eos = episodes[i].response_ids[-1:] == [tok.eos_token_id]
            episodes[i].add_observation(obs[i], env_ids(tok, obs[i], chat_template, after_eos))
        histories = [episodes[i].prompt_ids + episodes[i].response_ids for i in live]
        samples = engine.generate(histories, 1, caches=[caches[i] for i in live], keep_cache=turn + 1 != last,
                                  **sampling)  # fmt: skip


def episode_batch(episodes: list[Episode], pad_id: int) -> TokenBatch:
    """The episodes as right-padded rows (`make_batch`), the env's tokens excluded from the targets."""
    batch = make_batch([e.prompt_ids for e in episodes], [e.response_ids for e in episodes], pad_id)
    if all(all(e.trained) for e in episodes):
        return batch
    for row, e in enumerate(episodes):
        first = len(e.prompt_ids) - 1  # response token k is predicted at target column first + k
        for k, trained in enumerate(e.trained):
            if not trained:
                batch.targets[row, first + k] = -100
    return batch


def trained_logprobs(episodes: list[Episode]) -> list[float]:
    """The sampler's log-probs of the model's tokens, in the row-major order of `episode_batch`'s targets."""
    return [lp for e in episodes for lp, t in zip(e.logprobs, e.trained, strict=True) if t]


def turn_metrics(episodes: list[Episode]) -> dict:
    """turns_mean, turns_max, and for multi-turn episodes reward_turn_k: the mean reward of turn k over the episodes
    that reached it."""
    turns = [e.turns for e in episodes]
    out = {"turns_mean": sum(turns) / max(len(turns), 1), "turns_max": max(turns, default=0)}
    if out["turns_max"] > 1:
        for k in range(out["turns_max"]):
            rewards = [e.rewards[k] for e in episodes if len(e.rewards) > k]
            out[f"reward_turn_{k + 1}"] = sum(rewards) / len(rewards)
    return out
