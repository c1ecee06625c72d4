"""The platform server: accounts, pools, join tokens, devices, addresses and the credit ledger."""
