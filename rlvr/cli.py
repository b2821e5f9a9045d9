"""The `rlvr` command. Each subcommand imports what it needs when it runs, so `rlvr --help` is instant."""

from __future__ import annotations

import argparse
import json
import os
import sys

_INTERPRETERS = {".py": "python3", ".sh": "sh"}


def _fail(message: str, code: int = 2) -> int:
    print(f"rlvr: error: {message}", file=sys.stderr)
    return code


def cmd_train(args: argparse.Namespace) -> int:
    return _fail("the trainer is not built yet: `rlvr train` arrives with the trainer issue", 1)


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
        try:
            return json.loads(text) if text.lstrip().startswith(("{", "[")) else text
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
        with open(args.input, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    pairs.append((item["response"], item["reference"]))
                except (ValueError, KeyError, TypeError) as e:
                    return _fail(f"{args.input}:{lineno}: expected a JSON object with 'response' and 'reference' ({e})")
    except OSError as e:
        return _fail(f"cannot read {args.input}: {e.strerror}")
    for verdict in verifier.verify_batch(pairs):
        print(json.dumps(verdict.to_dict()))
    return 0


def _env_kwargs(pairs: list[str]) -> dict:
    """`--set key=value` pairs for an env constructor; values are read as JSON when they parse, else as text."""
    kwargs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        try:
            kwargs[key] = json.loads(value)
        except ValueError:
            kwargs[key] = value
    return kwargs


def cmd_envs_list(args: argparse.Namespace) -> int:
    import importlib

    from rlvr.envs.puzzles import PUZZLE_IDS
    from rlvr.envs.registration import ENV_IDS

    rows = []
    for env_id, entry_point in {**ENV_IDS, **PUZZLE_IDS}.items():
        module, cls = entry_point.split(":")
        try:
            doc = (getattr(importlib.import_module(module), cls).__doc__ or "").strip().splitlines()
            description = doc[0] if doc else ""
        except Exception as e:  # noqa: BLE001 - an env whose optional dependency is missing is listed as such
            description = f"(unavailable: {type(e).__name__}: {e})"
        rows.append((env_id, description))
    width = max(len(r[0]) for r in rows)
    for env_id, description in rows:
        print(f"{env_id:{width}}  {description}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlvr", description="Reasoning environments with verifiable rewards.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = sub.add_parser("train", help="train a model (default: the embedded CPU parity run)")
    train.set_defaults(func=cmd_train)

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

    verify = sub.add_parser("verify", help="verify a response (or a JSONL batch) and print verdicts as JSON")
    verify.add_argument("domain", help="verifier name, e.g. math, choice, instruction")
    verify.add_argument("--reference", help="reference answer (JSON for structured references)")
    verify.add_argument("--response", help="the response text to verify")
    verify.add_argument("--input", metavar="FILE.jsonl", help="one JSON object per line with response and reference")
    verify.set_defaults(func=cmd_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
