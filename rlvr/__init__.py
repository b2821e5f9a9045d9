"""rlvr: reasoning environments with verifiable rewards, and a GRPO trainer for prolonged RL.

Importing this package stays light (no torch, no Docker connection, no Gymnasium): heavy parts
load lazily in the modules that need them. The env ids (`gym.make("rlvr/Math-v0")`) are
registered as soon as Gymnasium is imported, before or after `import rlvr`.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"


class _RegisterWhenGymnasiumLoads(importlib.abc.MetaPathFinder):
    """Finds nothing itself: it wraps Gymnasium's own loader so our ids register right after it loads."""

    def find_spec(self, name, path=None, target=None):
        if name != "gymnasium":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def exec_and_register(module):
                exec_module(module)
                from rlvr.envs.registration import register_envs

                register_envs()

            spec.loader.exec_module = exec_and_register
        return spec


if "gymnasium" in sys.modules:
    from rlvr.envs.registration import register_envs

    register_envs()
elif not any(isinstance(f, _RegisterWhenGymnasiumLoads) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWhenGymnasiumLoads())
