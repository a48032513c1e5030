"""Encryption at rest of the call log's user-data columns (a Fernet key in ``$SLMGRAPH_LOG_KEY``
or ``CallLog(key=...)``). Ids, tiers, tokens, latency and cost stay clear, so cost, routing and
drift reports need no key. Without the key a read returns the ciphertext unchanged; a wrong key
is an error, never garbage."""

from __future__ import annotations

from typing import Any

from slmgraph.telemetry.store import CallLogError

#: A Fernet key (``python -c "from cryptography.fernet import Fernet;
#: print(Fernet.generate_key().decode())"``): prompts and outputs are encrypted at rest.
KEY_ENV = "SLMGRAPH_LOG_KEY"
#: The columns that can carry user data.
ENCRYPTED_COLUMNS = ("messages", "output", "error", "feedback_note")
PREFIX = "enc:fernet:"


def make_cipher(key: str | bytes | None) -> Any:
    """A Fernet for ``key``, or None without one."""
    if not key:
        return None
    try:
        from cryptography.fernet import Fernet
    except ImportError as exc:
        raise CallLogError(
            f"${KEY_ENV} is set but the 'cryptography' package is missing: "
            "pip install -e '.[crypto]'"
        ) from exc
    try:
        return Fernet(key.encode("ascii") if isinstance(key, str) else key)
    except (ValueError, TypeError) as exc:
        raise CallLogError(
            f"${KEY_ENV} is not a Fernet key (32 url-safe base64-encoded bytes): {exc}"
        ) from None


def encrypt(cipher: Any, text: str) -> str:
    return PREFIX + str(cipher.encrypt(text.encode("utf-8")).decode("ascii"))


def encrypt_row(cipher: Any, row: dict[str, Any]) -> dict[str, Any]:
    if cipher is not None:
        for col in ENCRYPTED_COLUMNS:
            if row.get(col) is not None:
                row[col] = encrypt(cipher, str(row[col]))
    return row


def decrypt_row(cipher: Any, row: dict[str, Any]) -> dict[str, Any]:
    for col in ENCRYPTED_COLUMNS:
        value = row.get(col)
        if isinstance(value, str) and value.startswith(PREFIX):
            if cipher is None:
                continue  # no key: the ciphertext stays as it is
            from cryptography.fernet import InvalidToken

            try:
                row[col] = cipher.decrypt(value[len(PREFIX) :]).decode("utf-8")
            except InvalidToken:
                raise CallLogError(
                    f"call {row.get('call_id')}: {col} was encrypted with another key than "
                    f"${KEY_ENV}"
                ) from None
    return row
