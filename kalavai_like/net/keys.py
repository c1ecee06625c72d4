"""WireGuard key pairs, generated on the node (X25519, base64), never leaving it.

Keys come from `wg genkey` / `wg pubkey` through the overlay's one command runner: the private
key travels only on stdin and stdout, never on a command line, and the long-running agent does
not carry a crypto library in its memory.
"""

from __future__ import annotations

from kalavai_like.errors import SystemProblem
from kalavai_like.net import validate
from kalavai_like.net.config import KeyPair
from kalavai_like.net.runner import CommandRunner, SystemRunner


def _wg(runner: CommandRunner, argv: list[str], stdin: str | None = None) -> str:
    result = runner.run(argv, stdin=stdin, timeout=10.0)
    if not result.ok:
        raise SystemProblem(
            "Cannot make a WireGuard key",
            f"`{' '.join(argv)}` failed: {result.stderr.strip() or result.returncode}. "
            "Install wireguard-tools (apt-get install wireguard-tools).",
        )
    return result.stdout.strip()


def generate_keypair(runner: CommandRunner | None = None) -> KeyPair:
    """A fresh X25519 key pair in WireGuard's base64 form.

    Raises:
        SystemProblem: `wg` is missing or failed.
    """
    runner = runner or SystemRunner()
    private = validate.key(_wg(runner, ["wg", "genkey"]), "private_key")
    return KeyPair(private, public_key(private, runner))


def public_key(private: str, runner: CommandRunner | None = None) -> str:
    """The public key of a base64 private key.

    Raises:
        InvalidInput: `private` is not a WireGuard key.
        SystemProblem: `wg` is missing or failed.
    """
    private = validate.key(private, "private_key")
    return validate.key(
        _wg(runner or SystemRunner(), ["wg", "pubkey"], stdin=private + "\n"), "public_key"
    )
