"""The relay server: WireGuard ciphertext over TCP between enrolled devices of one pool.
Imports the platform's models and database, and the wire protocol of kalavai_like.net.relay.
"""
