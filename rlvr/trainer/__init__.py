"""SFT and GRPO training: config, rollout engines, algorithms, controls, kernels, checkpoints."""
