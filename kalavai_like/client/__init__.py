"""Everything the frontends use: the LocalAPI's wire records, `NodeClient`, the platform client,
account sign-in, the instance (`Home`), preferences to describe and credit to show. May import
home, volunteer, usage, container (its `Limits`), errors, units, tokens."""
