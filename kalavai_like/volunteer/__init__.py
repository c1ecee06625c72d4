"""The volunteer's rules, pure: preferences, the rule engine, schedules, host facts.
May import usage, container (its `Limits`), units, errors; knows nothing of tokens, the platform or the frontends."""
