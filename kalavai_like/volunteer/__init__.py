"""The volunteer's rules, pure: preferences, the rule engine, schedules, host facts. May
import usage, container (its `Limits`), units, errors; never tokens, the platform, frontends."""
