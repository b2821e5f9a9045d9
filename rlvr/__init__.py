"""rlvr: reasoning environments with verifiable rewards, and a GRPO trainer for prolonged RL.

Importing this package stays light (no torch, no Docker connection): heavy parts load lazily
in the modules that need them.
"""

__version__ = "0.1.0"
