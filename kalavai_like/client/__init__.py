"""What frontends use to talk to the agent and the platform: the LocalAPI's wire records,
`NodeClient`, the platform HTTP client and account sign-in. May import home, errors, tokens."""
