"""`rlvr serve` and `rlvr export`: their arguments and what they run (registered by rlvr/cli.py)."""

from __future__ import annotations

import argparse
import json
import sys


def _fail(message: str) -> int:
    print(f"rlvr: error: {message}", file=sys.stderr)
    return 2


def _kwargs(text: str) -> dict:
    from rlvr.integrations.common import env_kwargs_json

    return env_kwargs_json(text, "--kwargs")


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from rlvr.integrations.openenv import serve
    except ImportError as e:
        return _fail(f"rlvr serve needs openenv-core (pip install 'rlvr[openenv]'): {e}")
    try:
        kwargs = _kwargs(args.kwargs)
        print(f"rlvr: serving {args.env_id} (OpenEnv) on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
        serve(
            args.env_id, kwargs, host=args.host, port=args.port, max_sessions=args.max_sessions,
            session_timeout_s=args.session_timeout_s, step_timeout_s=args.step_timeout_s,
            max_request_bytes=args.max_request_bytes, verifier_backend=args.verifier_backend or None,
        )  # fmt: skip
    except ValueError as e:
        return _fail(str(e))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from rlvr.integrations.export import write

    try:
        n = write(args.out, args.env_id, args.n, args.seed, _kwargs(args.kwargs))
    except (ValueError, TypeError) as e:
        return _fail(str(e))
    print(json.dumps({"out": args.out, "rows": n, "env_id": args.env_id, "seed": args.seed}))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `serve` and `export` to the `rlvr` command's subparsers."""
    serve = sub.add_parser("serve", help="serve an env over HTTP/WebSocket with OpenEnv's server (openenv extra)")
    serve.add_argument("env_id", metavar="ENV_ID")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.add_argument("--kwargs", default="{}", metavar="JSON", help="env constructor arguments, a JSON object")
    serve.add_argument("--max-sessions", type=int, default=64, help="concurrent sessions, each its own env")
    serve.add_argument("--session-timeout-s", type=float, default=600.0, help="close sessions idle this long")
    serve.add_argument("--step-timeout-s", type=float, default=60.0, help="longest a reset or step may take")
    serve.add_argument("--max-request-bytes", type=int, default=4 << 20, help="largest request or message")
    serve.add_argument(
        "--verifier-backend", default="", choices=("", "bwrap", "process", "ray"),
        help="verify in isolated pool workers shared by all sessions (default: in this process)",
    )  # fmt: skip
    serve.set_defaults(func=cmd_serve)

    export = sub.add_parser("export", help="write an env's problems as verl-style rows (.parquet or .jsonl)")
    export.add_argument("env_id", metavar="ENV_ID")
    export.add_argument("--n", type=int, required=True, help="number of problems")
    export.add_argument("--seed", type=int, default=0, help="the same seed writes the same rows (default: 0)")
    export.add_argument("--out", required=True, metavar="FILE", help="FILE.parquet (needs pyarrow) or FILE.jsonl")
    export.add_argument("--kwargs", default="{}", metavar="JSON", help="env constructor arguments, a JSON object")
    export.set_defaults(func=cmd_export)
