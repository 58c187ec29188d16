"""Object ids shaped like Modal's: a type prefix, a dash and 22 alphanumerics."""

from __future__ import annotations

import secrets
import string
import time

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """Return a fresh id such as ``ap-Xy3...`` (the CLI matches ``^ap-[A-Za-z0-9]{22}$``)."""
    return f"{prefix}-" + "".join(secrets.choice(_ALPHABET) for _ in range(22))


def new_token() -> str:
    return secrets.token_hex(16)


class EntryIds:
    """Monotonic log/stream entry ids in Redis-stream form (``<ms>-<seq>``)."""

    def __init__(self) -> None:
        self._seq = 0

    def next(self) -> str:
        self._seq += 1
        return f"{int(time.time() * 1000)}-{self._seq}"

    @staticmethod
    def seq(entry_id: str) -> int:
        """The sequence part of an entry id; 0 for an empty or foreign id."""
        try:
            return int(entry_id.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            return 0

    def resume_after(self, seq: int) -> None:
        self._seq = max(self._seq, seq)
