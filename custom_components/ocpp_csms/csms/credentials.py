"""Charger passwords for OCPP security profiles 1 and 2 (HTTP Basic Auth).

Only a salted PBKDF2 hash is stored; the plain password is shown to the user once,
when it is generated. Hashing is deliberately slow, so callers on the event loop run
`hash_password` in an executor, and connection attempts are checked through a
`password_gate.PasswordGate` (its own threads, a cache and limits), never by calling
`verify_password` on a shared executor.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

_ALGORITHM = "pbkdf2_sha256"
_ITERATIONS = 120_000
# Letters and digits only: chargers' set-up pages and the OCPP 2.x password
# variable accept these everywhere. 24 of them carry ~142 bits.
_ALPHABET = string.ascii_letters + string.digits
GENERATED_LENGTH = 24


def generate_password() -> str:
    """A new random password for a charger."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(GENERATED_LENGTH))


def hash_password(password: str) -> str:
    """A storable hash of `password`. Blocking (CPU): run in an executor."""
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), _ITERATIONS)
    return f"{_ALGORITHM}${_ITERATIONS}${salt}${digest.hex()}"


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether `password` matches `stored_hash`. Blocking (CPU): run in an executor."""
    try:
        algorithm, iterations, salt, expected = stored_hash.split("$")
        if algorithm != _ALGORITHM:
            return False
        digest = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), bytes.fromhex(salt), int(iterations)
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), expected)
