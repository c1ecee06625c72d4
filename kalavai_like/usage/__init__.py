"""Measured contribution: the cgroup and GPU sampler, the append-only ledger, Prometheus text.
May import errors only; knows nothing of tokens, the platform, the agent or the frontends."""
