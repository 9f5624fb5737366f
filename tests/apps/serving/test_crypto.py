"""Secrets at rest: Fernet with TRELLIS_ENCRYPTION_KEY, else a key derived from SECRET_KEY."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from apps.config.crypto import SecretUnreadable, decrypt, encrypt


def test_crypto_round_trip_hides_the_plaintext(settings: Any) -> None:
    settings.ENCRYPTION_KEY = ""
    token = encrypt("sk-live-123")
    assert "sk-live-123" not in token
    assert encrypt("sk-live-123") != token  # a fresh IV each time
    assert decrypt(token) == "sk-live-123"


def test_crypto_derived_key_follows_the_secret_key(settings: Any) -> None:
    settings.ENCRYPTION_KEY = ""
    settings.SECRET_KEY = "a" * 50
    token = encrypt("sk-1")
    settings.SECRET_KEY = "b" * 50
    with pytest.raises(SecretUnreadable) as caught:
        decrypt(token)
    assert "sk-1" not in str(caught.value)
    settings.SECRET_KEY = "a" * 50
    assert decrypt(token) == "sk-1"


def test_crypto_uses_the_configured_key(settings: Any) -> None:
    key = Fernet.generate_key()
    settings.ENCRYPTION_KEY = key.decode()
    token = encrypt("sk-2")
    assert Fernet(key).decrypt(token.encode()) == b"sk-2"
    settings.ENCRYPTION_KEY = ""
    with pytest.raises(SecretUnreadable):
        decrypt(token)


def test_crypto_refuses_a_malformed_key(settings: Any) -> None:
    settings.ENCRYPTION_KEY = "not-a-fernet-key"
    with pytest.raises(ImproperlyConfigured) as caught:
        encrypt("x")
    assert "TRELLIS_ENCRYPTION_KEY" in str(caught.value)


def test_crypto_garbage_token_is_unreadable(settings: Any) -> None:
    with pytest.raises(SecretUnreadable):
        decrypt("garbage")
    with pytest.raises(SecretUnreadable):
        decrypt("ünicode")
