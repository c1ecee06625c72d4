"""Keystores: one contract, run against the fake, the 0600 file and the real Secret Service."""

from __future__ import annotations

import pytest

from kalavai_like.errors import SystemProblem
from kalavai_like.home import keystore
from kalavai_like.home.keystore import FileKeystore, Keystore, MemoryKeystore


def contract(store: Keystore) -> None:
    a = "http://127.0.0.1:8700 a@example.org"
    b = "https://other.example.org b@example.org"
    assert store.get(a) is None
    assert store.delete(a) is False
    store.set(a, "klu_first")
    assert store.get(a) == "klu_first"
    store.set(a, "klu_second")  # overwrite, not a second entry
    assert store.get(a) == "klu_second"
    store.set(b, "klu_öther ✓")
    assert (store.get(a), store.get(b)) == ("klu_second", "klu_öther ✓")
    assert store.delete(a) is True
    assert store.get(a) is None
    assert store.get(b) == "klu_öther ✓"
    assert store.delete(a) is False
    assert store.delete(b) is True
    with pytest.raises(ValueError):
        store.set(a, "")


def test_memory_keystore_keeps_the_contract():
    contract(MemoryKeystore())


def test_file_keystore_keeps_the_contract_and_is_private(tmp_path):
    store = FileKeystore(tmp_path / "state" / "api-tokens.json")
    contract(store)
    store.set("x y", "klu_secret")
    assert (store.path.stat().st_mode & 0o777) == 0o600
    assert (store.path.parent.stat().st_mode & 0o777) == 0o700
    store.delete("x y")
    assert not store.path.exists()


def test_insisting_on_a_keyring_where_there_is_none_says_so_and_how_to_go_on(monkeypatch, tmp_path):
    import keyring
    import keyring.backends.fail

    monkeypatch.setattr(keyring, "get_keyring", lambda: keyring.backends.fail.Keyring())
    with pytest.raises(SystemProblem) as caught:
        keyring_store = keystore.open_keystore("keyring", tmp_path / "t", tmp_path / "s.toml")
        del keyring_store
    message = caught.value.message
    assert caught.value.title == "No keyring on this machine"
    assert "KALAVAI_LIKE_API_TOKEN" in message
    assert "remove that line" in message and str(tmp_path / "s.toml") in message
    assert not (tmp_path / "t").exists()  # nothing written in plaintext instead


def test_by_default_a_machine_without_keyring_keeps_the_token_in_a_private_file(
    monkeypatch, tmp_path
):
    import keyring
    import keyring.backends.fail

    monkeypatch.setattr(keyring, "get_keyring", lambda: keyring.backends.fail.Keyring())
    store = keystore.open_keystore("auto", tmp_path / "state" / "t.json")
    assert isinstance(store, FileKeystore) and store.instead_of_keyring
    assert "no OS keyring here" in store.name
    store.set("http://127.0.0.1:8700 a@example.org", "klu_secret")
    assert (store.path.stat().st_mode & 0o777) == 0o600


def test_a_locked_keyring_is_an_error_not_a_reason_to_use_a_file(monkeypatch, tmp_path):
    import keyring
    import keyring.errors

    def locked():
        raise keyring.errors.KeyringLocked("locked")

    monkeypatch.setattr(keyring, "get_keyring", locked)
    with pytest.raises(SystemProblem, match="locked"):
        keystore.open_keystore("auto", tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()


def test_a_chainer_with_no_backends_is_no_keyring(monkeypatch):
    import keyring
    import keyring.backends.chainer

    class NoBackends(keyring.backends.chainer.ChainerBackend):
        # Overridden, not patched: patching reads the real property first, which asks D-Bus
        # once another test has imported the Secret Service backend.
        backends = []  # type: ignore[assignment]

    chainer = NoBackends()
    monkeypatch.setattr(keyring, "get_keyring", lambda: chainer)
    with pytest.raises(SystemProblem, match="No keyring"):
        keystore.open_keyring()


def test_file_keystore_only_when_chosen(tmp_path):
    store = keystore.open_keystore("file", tmp_path / "t.json")
    assert isinstance(store, FileKeystore)


@pytest.mark.keyring
def test_real_secret_service_keeps_the_contract(real_secret_service):
    store = keystore.open_keystore("keyring", real_secret_service / "never.json")
    assert "SecretService" in store.name
    contract(store)
    store.set("http://127.0.0.1:8700 a@example.org", "klu_in_the_keyring_only")
    # The entry is really in the Secret Service, under our service name.
    import keyring

    assert keyring.get_password("kalavai-like", "http://127.0.0.1:8700 a@example.org") == (
        "klu_in_the_keyring_only"
    )
    store.delete("http://127.0.0.1:8700 a@example.org")
    assert not (real_secret_service / "never.json").exists()
