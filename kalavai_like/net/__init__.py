"""The private overlay network: WireGuard hub and spokes, one namespace per membership."""
