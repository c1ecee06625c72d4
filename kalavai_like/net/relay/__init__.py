"""The relay's client side: its wire protocol (shared with the platform's relay server) and
the bridge process that carries WireGuard's UDP over one TCP connection to the relay.
Imports nothing of the project but errors: the platform's relay imports `protocol` too.
"""
