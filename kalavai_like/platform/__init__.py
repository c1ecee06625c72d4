"""The platform server: accounts, pools, join tokens, devices, addresses and the credit ledger.
May import errors and tokens only; never the agent, its clients or the node's pieces."""
