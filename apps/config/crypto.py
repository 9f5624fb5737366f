"""Secrets at rest (provider API keys): Fernet, keyed by TRELLIS_ENCRYPTION_KEY.

Without TRELLIS_ENCRYPTION_KEY the key is derived from SECRET_KEY with HKDF-SHA256, so a local
install needs no extra setting; changing SECRET_KEY then makes stored secrets unreadable (they
must be entered again), which is why production may pin a separate key. Plaintext never goes to
a log, an exception message or an API response.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

HKDF_INFO = b"trellis-secrets"


class SecretUnreadable(ValueError):
    """A stored secret does not decrypt with the current key (the key changed, or bad data)."""


@lru_cache(maxsize=4)
def _fernet(encryption_key: str, secret_key: str) -> Fernet:
    if encryption_key:
        try:
            return Fernet(encryption_key.encode())
        except (ValueError, binascii.Error):
            raise ImproperlyConfigured(
                "TRELLIS_ENCRYPTION_KEY must be a Fernet key (32 bytes, url-safe base64), e.g. the output of "
                '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.'
            ) from None
    derived = HKDF(algorithm=SHA256(), length=32, salt=None, info=HKDF_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _current() -> Fernet:
    return _fernet(settings.ENCRYPTION_KEY, settings.SECRET_KEY)


def encrypt(text: str) -> str:
    return _current().encrypt(text.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with the current key "
            "(was TRELLIS_ENCRYPTION_KEY or SECRET_KEY changed?). Enter it again."
        ) from None
