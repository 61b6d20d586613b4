"""Charger passwords for OCPP security profiles 1 and 2 (HTTP Basic Auth).

Only a salted hash is stored; the plain password is shown to the user once, when it is
generated. How it is hashed depends on where the password came from:
- one the user chose gets PBKDF2: deliberately slow, so that a copy of the
  configuration does not give away a guessable password. Callers on the event loop run
  `hash_password` in an executor, and connection attempts are checked through a
  `password_gate.PasswordGate` (its own threads, a cache and limits), never by calling
  `verify_password` on a shared executor;
- one we generated (and the user kept) carries ~142 random bits. Nobody can search
  that space, slowed down or not, so stretching it buys nothing and costs every
  charger ~40 ms of CPU at each first connection: 1,000 chargers coming back after a
  restart of Home Assistant waited a minute behind it. It gets a salted HMAC-SHA256,
  which verifies in microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

_ALGORITHM = "pbkdf2_sha256"
_ITERATIONS = 120_000
_GENERATED_ALGORITHM = "hmac_sha256"
# Letters and digits only: chargers' set-up pages and the OCPP 2.x password
# variable accept these everywhere. 24 of them carry ~142 bits.
_ALPHABET = string.ascii_letters + string.digits
GENERATED_LENGTH = 24


def generate_password() -> str:
    """A new random password for a charger."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(GENERATED_LENGTH))


def hash_password(password: str, *, generated: bool = False) -> str:
    """A storable hash of `password`; `generated`: made by `generate_password`.

    Blocking (CPU) for a password the user chose: run it in an executor.
    """
    salt = secrets.token_hex(16)
    if generated:
        digest = hmac.digest(bytes.fromhex(salt), password.encode(), "sha256")
        return f"{_GENERATED_ALGORITHM}${salt}${digest.hex()}"
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), _ITERATIONS)
    return f"{_ALGORITHM}${_ITERATIONS}${salt}${digest.hex()}"


def is_costly(stored_hash: str) -> bool:
    """Whether checking a password against `stored_hash` takes real CPU (PBKDF2)."""
    return not stored_hash.startswith(f"{_GENERATED_ALGORITHM}$")


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether `password` matches `stored_hash`.

    Blocking (CPU) when `is_costly(stored_hash)`: run it in an executor then.
    """
    try:
        algorithm, *parameters = stored_hash.split("$")
        secret = password.encode()
        if algorithm == _GENERATED_ALGORITHM:
            salt, expected = parameters
            digest = hmac.digest(bytes.fromhex(salt), secret, "sha256")
        elif algorithm == _ALGORITHM:
            iterations, salt, expected = parameters
            digest = hashlib.pbkdf2_hmac("sha256", secret, bytes.fromhex(salt), int(iterations))
        else:
            return False
    except ValueError:  # a damaged hash, or text that cannot be encoded
        return False
    return hmac.compare_digest(digest.hex(), expected)
