"""The version stamp in installed skills, and what it says about an installed copy.

`trainward skills install` writes each SKILL.md with three more lines at the end of its
frontmatter (the Agent Skills spec's `metadata`, string values):

    metadata:
      trainward-version: "0.1.0"
      trainward-digest: "sha256:..."   the skill's files as shipped (SKILL.md without these lines)

An installed copy whose files still hash to its digest is trainward's own: `install` updates
it when the shipped skill (or the version) differs. A copy that hashes otherwise, or an
unstamped copy that differs from the shipped skill, was changed by someone: `install` keeps
it unless asked to replace it (`--force`). A copy from before stamps existed that equals the
shipped skill is stamped in place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

SKILL_FILE = "SKILL.md"
VERSION_KEY, DIGEST_KEY = "trainward-version", "trainward-digest"
CopyState = Literal["missing", "current", "outdated", "customised"]


def digest(files: Mapping[str, bytes]) -> str:
    """A skill's digest: its files (relative posix path -> bytes), SKILL.md unstamped."""
    h = hashlib.sha256()
    for rel in sorted(files):
        data = files[rel]
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return "sha256:" + h.hexdigest()


def stamp(text: str, version: str, skill_digest: str) -> str:
    """SKILL.md text with the stamp as the last lines of its frontmatter."""
    lines = text.split("\n")
    end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
    block = ["metadata:", f'  {VERSION_KEY}: "{version}"', f'  {DIGEST_KEY}: "{skill_digest}"']
    return "\n".join(lines[:end] + block + lines[end:])


def unstamp(text: str) -> tuple[str, dict[str, str] | None]:
    """(SKILL.md text without the stamp, the stamp's values) or (text, None) when unstamped."""
    lines = text.split("\n")
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
    except StopIteration:
        return text, None
    block = lines[end - 3 : end] if end >= 4 else []
    keys = [line.strip().split(":", 1)[0] for line in block[1:]]
    if not block or block[0] != "metadata:" or keys != [VERSION_KEY, DIGEST_KEY]:
        return text, None
    values = {
        k: line.split(":", 1)[1].strip().strip('"') for k, line in zip(keys, block[1:], strict=True)
    }
    return "\n".join(lines[: end - 3] + lines[end:]), values


def read_copy(dest: Path) -> tuple[dict[str, bytes], dict[str, str] | None]:
    """An installed skill's files (SKILL.md unstamped) and its stamp."""
    files = {
        p.relative_to(dest).as_posix(): p.read_bytes()
        for p in dest.rglob("*")
        if p.is_file() and not any(s.startswith((".", "__")) for s in p.relative_to(dest).parts)
    }
    text, values = unstamp(files.get(SKILL_FILE, b"").decode("utf-8", errors="replace"))
    if values is not None:
        files[SKILL_FILE] = text.encode("utf-8")
    return files, values


def copy_state(dest: Path, shipped: Mapping[str, bytes], version: str) -> CopyState:
    """What the copy at `dest` is, against the shipped skill's files (unstamped)."""
    if not (dest / SKILL_FILE).is_file():
        return "missing"
    files, values = read_copy(dest)
    if values is None:
        return "outdated" if files == dict(shipped) else "customised"
    if digest(files) != values.get(DIGEST_KEY):
        return "customised"
    if values.get(DIGEST_KEY) == digest(shipped) and values.get(VERSION_KEY) == version:
        return "current"
    return "outdated"


__all__ = ["CopyState", "copy_state", "digest", "read_copy", "stamp", "unstamp"]
