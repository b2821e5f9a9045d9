"""rlvr inside other people's stacks, through their own packages and conventions.

- `rlvr.integrations.openenv`: any registered env served by openenv-core's own server (`rlvr serve`).
- `rlvr.integrations.trl`: `reward_function(verifier)`, a TRL `reward_funcs` callable.
- `rlvr.integrations.verl`: `compute_score(data_source, solution_str, ground_truth, extra_info)`, verl's signature.
- `rlvr.integrations.export`: problems as verl-style rows in Parquet or JSONL (`rlvr export`).

Each module imports its peer package only when used; nothing here re-implements a peer's protocol.
"""
