"""The `rlvr` command. Each subcommand imports what it needs when it runs, so `rlvr --help` is instant."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys

_INTERPRETERS = {".py": "python3", ".sh": "sh"}


def _fail(message: str, code: int = 2) -> int:
    print(f"rlvr: error: {message}", file=sys.stderr)
    return code


DEFAULT_TRAIN_CONFIG = os.path.join("configs", "parity.yaml")
EVAL_DEFAULTS = {"samples": 8, "prompts": 128, "seed": 1, "temperature": 1.0, "max_response_tokens": 256,
                 "chat_template": False}  # fmt: skip


def _default_config_path() -> str:
    """configs/parity.yaml in the working directory, else the one next to the package (a source checkout)."""
    if os.path.isfile(DEFAULT_TRAIN_CONFIG):
        return DEFAULT_TRAIN_CONFIG
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), DEFAULT_TRAIN_CONFIG)


def _cwd_on_path() -> None:
    """As `python -m` does: an env id "module:Name-v0" finds its module in the working directory."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def cmd_train(args: argparse.Namespace) -> int:
    from rlvr.trainer.config import load_config

    _cwd_on_path()
    if args.resume and args.config:
        return _fail("--resume continues a run with its own config.yaml: give --set overrides, not --config")
    path = os.path.join(args.resume, "config.yaml") if args.resume else args.config or _default_config_path()
    overrides = [*args.set, f"logging.run_dir={args.resume}"] if args.resume else args.set
    try:
        cfg = load_config(path, overrides)
    except ValueError as e:
        return _fail(str(e))
    from rlvr.trainer.checkpoint import CheckpointError
    from rlvr.trainer.grpo import TrainingStopped
    from rlvr.trainer.run import format_table, train

    try:
        results = train(cfg, resume=bool(args.resume))
    except ValueError as e:
        return _fail(str(e))
    except CheckpointError as e:
        return _fail(f"checkpoint: {e}", code=1)
    except TrainingStopped as e:
        return _fail(f"training stopped: {e}", code=1)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 alone reports
        print(f"run: {results['run_dir']}  ({results['wall_s']:.0f} s)")
        print(format_table(results))
    return 0


def _run_config(model_dir: str):
    """The training config of the run a checkpoint belongs to (RUN_DIR/checkpoints/step_N/ -> RUN_DIR/config.yaml),
    and the checkpoint's GRPO step; (None, 0) when `model_dir` is not inside a run directory."""
    import yaml

    from rlvr.trainer.config import config_from_dict

    real = os.path.realpath(model_dir)  # checkpoints/latest is a link
    path = os.path.join(os.path.dirname(os.path.dirname(real)), "config.yaml")
    if not os.path.isfile(path):
        return None, 0
    step = os.path.basename(real).removeprefix("step_")
    with open(path, encoding="utf-8") as f:  # not re-validated: eval needs neither the SFT data nor the base model
        cfg = config_from_dict(yaml.safe_load(f))
    return cfg, int(step) if step.isdigit() else 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Flags left out take their value from the run's config.yaml when --model is one of its checkpoints (env, env
    kwargs and held-out rows, chat template, response length at that step, prompts, samples, seed, temperature; and,
    with no flag of their own, top-p, stop strings, turn limit and turn reward), else the defaults of `rlvr eval
    --help`. Like `rlvr train`, it finds a "module:Name-v0" task's module in the working directory."""
    from rlvr.trainer.config import ModelConfig, RolloutConfig

    _cwd_on_path()
    try:
        cfg, step = _run_config(args.model)
        holdout, holdout_seed = 0, 0
        rollout = cfg.rollout if cfg is not None else RolloutConfig()  # top_p, stop strings, turns: the run's
        if cfg is not None:
            from rlvr.trainer.controls import length_limit
            from rlvr.trainer.run import eval_env_kwargs, eval_holdout

            e = cfg.eval
            run = {
                "env": cfg.env.id,
                "prompts": e.prompts,
                "samples": e.samples_per_prompt,
                "seed": e.seed,
                "temperature": e.temperature,
                "chat_template": cfg.model.chat_template,
                "max_response_tokens": length_limit(cfg.length.schedule, cfg.rollout.max_response_tokens, step),
            }
            for key, value in run.items():
                if getattr(args, key) is None:
                    setattr(args, key, value)
            if args.env == cfg.env.id and not args.set:  # the run's own evaluation: its data, its held-out rows
                env_kwargs, holdout, holdout_seed = eval_env_kwargs(cfg), eval_holdout(cfg), e.seed
            if args.env != cfg.env.id:  # another env: its own turn limit
                rollout = dataclasses.replace(rollout, max_turns=0)
        for key, value in EVAL_DEFAULTS.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
        if cfg is None or args.set or args.env != cfg.env.id:
            env_kwargs = _env_kwargs(args.set)
        if args.env is None:
            raise ValueError(f"--env is needed: {args.model} is not a checkpoint of an rlvr run (no config.yaml)")
        if args.samples < 1 or args.prompts < 1 or args.show < 0:
            raise ValueError("--samples and --prompts must be >= 1, --show >= 0")
        if args.temperature <= 0:
            raise ValueError(f"--temperature must be > 0, got {args.temperature}")
        import rlvr  # noqa: F401 - registers the ids
        from rlvr.envs.registration import env_spec

        env_spec(args.env)
        import torch
        from transformers.utils import logging as hf_logging

        from rlvr.trainer.evaluate import evaluate
        from rlvr.trainer.model import load_model
        from rlvr.trainer.rollout import make_engine

        hf_logging.disable_progress_bar()

        model, tok = load_model(ModelConfig(path=args.model, chat_template=args.chat_template))
        engine = make_engine("hf", model, tok, add_special_tokens=not args.chat_template)
        torch.manual_seed(args.seed)  # the samples too are reproducible
        shown: list = []
        result = evaluate(
            engine, tok, args.env, env_kwargs, prompts=args.prompts, samples_per_prompt=args.samples, seed=args.seed,
            temperature=args.temperature, top_p=rollout.top_p, max_response_tokens=args.max_response_tokens,
            stop_strings=rollout.stop_strings, chat_template=args.chat_template, verifier_backend=args.verifier_backend,
            holdout=holdout, holdout_seed=holdout_seed, samples_out=shown, max_turns=rollout.max_turns,
            turn_reward=rollout.turn_reward,
        )  # fmt: skip
    except ValueError as e:
        return _fail(str(e))
    print(json.dumps({"model": args.model, "env": args.env, "env_kwargs": env_kwargs, **result}, indent=2))
    for i, row in enumerate(shown[: args.show]):
        print(_format_sample(i, len(shown[: args.show]), args.samples, row))
    return 0


def _format_sample(i: int, total: int, n: int, row: dict) -> str:
    """One evaluated sample for `rlvr eval --show`: its verdict on a header line, then the prompt and response."""
    extracted = f", extracted {row['extracted']!r}" if row.get("extracted") is not None else ""
    detail = f" ({row['detail']})" if row.get("detail") else ""
    head = f"--- sample {i + 1}/{total} (prompt {i // n}, sample {i % n}, env {row['env']}): {row['status']}, "
    return f"{head}reward {row['reward']:.3f}{extracted}{detail}\nprompt: {row['prompt']}\nresponse: {row['response']}"


def cmd_sandbox_run(args: argparse.Namespace) -> int:
    from rlvr.sandbox import Limits, SandboxUnavailable, get_sandbox

    try:
        with open(args.file, "rb") as f:
            program = f.read()
        stdin = b""
        if args.stdin:
            with open(args.stdin, "rb") as f:
                stdin = f.read()
    except OSError as e:
        return _fail(f"cannot read {e.filename}: {e.strerror}")
    name = os.path.basename(args.file)
    interpreter = _INTERPRETERS.get(os.path.splitext(name)[1])
    argv = [interpreter, name] if interpreter else ["./" + name]
    try:
        limits = Limits(wall_s=args.timeout, cpu_s=args.timeout, memory_mb=args.memory_mb)
        sandbox = get_sandbox(args.backend)
    except (ValueError, SandboxUnavailable) as e:
        return _fail(str(e))
    result = sandbox.run(argv + args.args, files={name: program}, stdin=stdin, limits=limits)
    print(json.dumps(result.to_dict(), indent=2))
    return 0 if result.ok else 1


def cmd_sandbox_build_image(args: argparse.Namespace) -> int:
    from rlvr.sandbox import SandboxUnavailable
    from rlvr.sandbox.docker import _client
    from rlvr.sandbox.image import build_image

    try:
        build_image(_client(), quiet=False)
    except SandboxUnavailable as e:
        return _fail(str(e))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from rlvr.verifiers import get_verifier

    def reference(text: str):
        """A JSON object is a structured reference; anything else is text (`[1,100]` is a math interval, and the
        verifiers that take a JSON list read it from the text themselves)."""
        try:
            return json.loads(text) if text.lstrip().startswith("{") else text
        except ValueError:
            return text

    try:
        verifier = get_verifier(args.domain)
    except ValueError as e:
        return _fail(str(e))
    if args.input is None:
        if args.reference is None or args.response is None:
            return _fail("give --reference and --response, or --input FILE.jsonl")
        print(json.dumps(verifier.verify(args.response, reference(args.reference)).to_dict()))
        return 0
    pairs = []
    try:
        with open(args.input, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")  # per line, so that a bad byte is reported with its line
                    if not line.strip():
                        continue
                    item = json.loads(line)
                    pairs.append((item["response"], item["reference"]))
                except (ValueError, KeyError, TypeError) as e:  # UnicodeDecodeError is a ValueError
                    return _fail(f"{args.input}:{lineno}: expected a JSON object with 'response' and 'reference' ({e})")
    except OSError as e:
        return _fail(f"cannot read {args.input}: {e.strerror}")
    for verdict in verifier.verify_batch(pairs):
        print(json.dumps(verdict.to_dict()))
    return 0


def _env_kwargs(pairs: list[str]) -> dict:
    """`--set key=value` pairs for an env constructor; each value is read as YAML (numbers, lists, text)."""
    import yaml

    kwargs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {pair!r} must look like KEY=VALUE (an env keyword argument)")
        kwargs[key.strip()] = yaml.safe_load(value)
    return kwargs


def cmd_envs_list(args: argparse.Namespace) -> int:
    import importlib

    import gymnasium as gym

    import rlvr  # noqa: F401 - registers the ids
    from rlvr.envs.puzzles import PUZZLE_IDS
    from rlvr.envs.registration import ENV_IDS

    rows = [("id", "domain", "description")]
    for env_id, entry_point in {**ENV_IDS, **PUZZLE_IDS}.items():
        try:
            doc = (importlib.import_module(entry_point.split(":")[0]).__doc__ or "").strip().splitlines()
            description = doc[0].split(": ", 1)[-1] if doc else ""
            env = gym.make(env_id)
            domain = "mixed" if env_id == "rlvr/Mixture-v0" else env.reset(seed=0)[1]["domain"]
            env.close()
        except Exception as e:  # noqa: BLE001 - an env whose optional dependency is missing is listed as such
            domain, description = "-", f"(unavailable: {type(e).__name__}: {e})"
        rows.append((env_id, domain, description))
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for env_id, domain, description in rows:
        print(f"{env_id:{widths[0]}}  {domain:{widths[1]}}  {description}")
    return 0


def cmd_envs_show(args: argparse.Namespace) -> int:
    import gymnasium as gym

    import rlvr  # noqa: F401 - registers the ids

    try:
        env = gym.make(args.env_id, **_env_kwargs(args.set))
    except (ValueError, TypeError, gym.error.Error) as e:
        return _fail(f"cannot make {args.env_id}: {e}")
    prompt, info = env.reset(seed=args.seed)
    try:
        solution = env.unwrapped.reference_response()
    except NotImplementedError:
        solution = None
    if args.json:
        print(json.dumps({"prompt": prompt, "info": info, "reference_response": solution}, default=str))
    else:
        print(f"{prompt}\n\n-- reference: {json.dumps(info['reference'], default=str)}")
        if solution is not None:
            print(f"-- a response it accepts:\n{solution}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from rlvr.audit import audit_env, summary_row

    try:
        env_kwargs = _env_kwargs(args.set)
        if args.items < 2:
            raise ValueError(f"--items must be >= 2 (other items' answers are decoys), got {args.items}")
        key, values = None, [None]
        if args.over:
            key, sep, text = args.over.partition("=")
            key, values = key.strip(), [v.strip() for v in text.split(",") if v.strip()]
            if not sep or not key or not values:
                raise ValueError(f"--over {args.over!r} must look like KEY=V1,V2,... (one audit per value)")
    except ValueError as e:
        return _fail(str(e))
    results, weak = [], 0
    for i, value in enumerate(values):
        kwargs = env_kwargs if key is None else {**env_kwargs, **_env_kwargs([f"{key}={value}"])}
        try:
            with contextlib.redirect_stdout(sys.stderr):  # some task generators print: keep stdout the report's
                report = audit_env(args.env_id, kwargs, items=args.items, seed=args.seed)
        except Exception as e:  # noqa: BLE001 - an env that cannot be built (or refuses its scorer): say why
            if key is None:
                return _fail(f"cannot audit {args.env_id}: {e}")
            report = f"{type(e).__name__}: {e}"
        weak += isinstance(report, str) or bool(report.weak())
        results.append(report if isinstance(report, str) else report.to_dict())
        if key is not None and not args.json:
            print(summary_row(report, f"{key}={value}", header=i == 0), flush=True)
    out = results if key is not None else results[0]
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
    if args.json:
        print(json.dumps(out, indent=2))
    elif key is None:
        print(report.table())
    return 1 if weak else 0


BENCH_SUITES = ("sandbox", "verifiers", "kernels", "trainer", "parity")


def cmd_report(args: argparse.Namespace) -> int:
    from rlvr.report import main as report_main

    return report_main(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from rlvr.bench import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlvr", description="Reasoning environments with verifiable rewards.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = sub.add_parser("train", help="train a model (default: the embedded CPU parity run)")
    train.add_argument("--config", metavar="FILE.yaml", help="training config (default: configs/parity.yaml)")
    train.add_argument("--set", action="append", default=[], metavar="PART.FIELD=VALUE", help="override a config value")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest checkpoint")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="sample a model on an env's held-out problems; print accuracy and pass@k as JSON")
    ev.add_argument(
        "--model",
        required=True,
        help="a local model directory; a checkpoint of a run (RUN_DIR/checkpoints/latest) also gives the "
        "defaults of every flag below from RUN_DIR/config.yaml (its env, data and held-out rows)",
    )
    ev.add_argument("--env", help="env id, e.g. rlvr/Parity-v0 (needed unless --model is a run's checkpoint)")
    ev.add_argument("--samples", type=int, help="samples per problem (pass@k for k = 1, 2, 4, … <= n; default: 8)")
    ev.add_argument("--prompts", type=int, help="number of problems (default: 128; at most a dataset's rows)")
    ev.add_argument("--seed", type=int, help="problem and sampling seed (default: 1, the trainer's eval.seed)")
    ev.add_argument("--temperature", type=float, help="default: 1.0")
    ev.add_argument("--max-response-tokens", type=int, help="default: 256")
    ev.add_argument("--chat-template", action="store_true", default=None,
                    help="wrap prompts with the tokenizer's chat template")  # fmt: skip
    ev.add_argument("--verifier-backend", default="", choices=("", "bwrap", "process", "ray"),
                    help="verify in isolated pool workers (default: in this process)")  # fmt: skip
    ev.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="env keyword argument (YAML value)")
    ev.add_argument("--show", type=int, default=0, metavar="N",
                    help="after the scores, print N responses with their verdicts")  # fmt: skip
    ev.set_defaults(func=cmd_eval)

    sandbox = sub.add_parser("sandbox", help="run programs in the sandbox; build its Docker image")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND", required=True)
    run = sandbox_sub.add_parser("run", help="run FILE (.py, .sh or an executable) and print the result as JSON")
    run.add_argument("file", metavar="FILE")
    run.add_argument("args", nargs="*", help="arguments for the program (after --)")
    run.add_argument("--backend", default="auto", help="bwrap | docker | process | auto (default: auto)")
    run.add_argument("--timeout", type=float, default=10.0, help="wall and CPU seconds (default: 10)")
    run.add_argument("--memory-mb", type=int, default=512, help="memory limit in MB (default: 512)")
    run.add_argument("--stdin", metavar="PATH", help="file to feed on standard input")
    run.set_defaults(func=cmd_sandbox_run)
    build = sandbox_sub.add_parser("build-image", help="build the Docker sandbox image locally")
    build.set_defaults(func=cmd_sandbox_build_image)

    envs = sub.add_parser("envs", help="list the environments; show a problem")
    envs_sub = envs.add_subparsers(dest="envs_command", metavar="SUBCOMMAND", required=True)
    envs_sub.add_parser("list", help="every env id with a one-line description").set_defaults(func=cmd_envs_list)
    show = envs_sub.add_parser("show", help="print the prompt and reference of one problem")
    show.add_argument("env_id", metavar="ID")
    show.add_argument("--seed", type=int, default=0)
    show.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="env constructor argument")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(func=cmd_envs_show)

    audit = sub.add_parser("audit", help="send decoy answers through an env's step; report which ones earn reward")
    audit.add_argument("env_id", metavar="ID")
    audit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="env constructor argument")
    audit.add_argument("--items", type=int, default=8, help="problems to audit (default: 8)")
    audit.add_argument("--seed", type=int, default=0)
    audit.add_argument("--over", metavar="KEY=V1,V2,...", help="one audit per value of KEY, one row each")
    audit.add_argument("--json", action="store_true", help="print JSON instead of a table")
    audit.add_argument("--out", metavar="FILE.json", help="also write the JSON report to FILE.json")
    audit.set_defaults(func=cmd_audit)

    verify = sub.add_parser("verify", help="verify a response (or a JSONL batch) and print verdicts as JSON")
    verify.add_argument("domain", help="verifier name, e.g. math, choice, instruction")
    verify.add_argument("--reference", help="reference answer (JSON for structured references)")
    verify.add_argument("--response", help="the response text to verify")
    verify.add_argument("--input", metavar="FILE.jsonl", help="one JSON object per line with response and reference")
    verify.set_defaults(func=cmd_verify)

    report = sub.add_parser("report", help="plots and an HTML page of a training run (RUN_DIR/plots/, report.html)")
    report.add_argument("run_dir", metavar="RUN_DIR")
    report.add_argument("--out", metavar="DIR", help="where to write (default: the run directory)")
    report.set_defaults(func=cmd_report)

    bench = sub.add_parser("bench", help="run a benchmark in benchmarks/, write its JSON and regenerate RESULTS.md")
    bench.add_argument("suite", choices=BENCH_SUITES)
    bench.add_argument("--quick", action="store_true", help="a short run that exercises the script")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed on to the script (after --)")
    bench.set_defaults(func=cmd_bench)

    from rlvr.integrations.commands import add_commands

    add_commands(sub)  # serve, export
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
