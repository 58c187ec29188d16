"""The agent skills: read and check them, and install them with the guard hook.

The source of truth is the repo's `skills/<name>/SKILL.md`. A source checkout (an editable
install) reads them there; a wheel carries them as data files under
`<prefix>/share/trainward/skills` (pyproject's `[tool.setuptools.data-files]`).

`install` copies every skill into `<root>/.claude/skills/` (Claude Code) and
`<root>/.agents/skills/` (other assistants), each SKILL.md stamped with this version (see
`trainward.integrations.stamps`: a copy someone changed is kept unless `force`), and merges
the guard's PreToolUse hook into `<root>/.claude/settings.json`, where root is a project or
the user's home. It keeps every other setting and hook, never adds the hook twice, writes
nothing when all is current, and with `dry_run` only reports what it would change.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainward import __version__
from trainward.core.fileio import atomic_write
from trainward.errors import ConfigError, NotFound
from trainward.guard import hookcommand
from trainward.integrations import stamps

SKILL_FILE = "SKILL.md"
TARGETS = (".claude/skills", ".agents/skills")
SETTINGS = ".claude/settings.json"
DATA_SUBDIR = Path("share", "trainward", "skills")
HOOK_TIMEOUT_S = 10
GUARD_ARGS = ["guard", "--hook"]

# The Agent Skills spec (agentskills.io): the frontmatter keys it allows, and its limits.
SPEC_KEYS = frozenset(
    {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}
)
NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
RESERVED = ("anthropic", "claude")
MAX_NAME, MAX_DESCRIPTION, MAX_COMPATIBILITY = 64, 1024, 500
MAX_BODY_LINES = 200  # ours: a skill calls the tool; it does not carry the logic


@dataclass(frozen=True)
class Skill:
    name: str
    description: str
    path: Path  # the skill's directory

    def files(self) -> list[Path]:
        """The skill's files, relative to its directory (hidden files and caches skipped)."""
        found = (p.relative_to(self.path) for p in self.path.rglob("*") if p.is_file())
        return sorted(r for r in found if not any(s.startswith((".", "__")) for s in r.parts))


# -- reading and checking ----------------------------------------------------------------


def source_dir() -> Path:
    """Where the skills ship: the source checkout's `skills/`, else the wheel's data files."""
    candidates = [Path(__file__).resolve().parents[3] / "skills"]
    candidates += [Path(root) / DATA_SUBDIR for root in _data_roots()]
    for cand in candidates:
        if any(cand.glob(f"*/{SKILL_FILE}")):
            return cand
    raise NotFound(
        "the trainward skills are not installed: looked in "
        + ", ".join(str(c) for c in candidates),
        hint="install trainward from its repository (pip install -e .) or from a wheel",
    )


def _data_roots() -> list[str]:
    roots = [sys.prefix, sysconfig.get_path("data")]
    try:
        roots.append(sysconfig.get_path("data", f"{os.name}_user"))
    except KeyError:
        pass
    return list(dict.fromkeys(roots))


def split_frontmatter(text: str, where: str) -> tuple[dict[str, Any], str]:
    """(frontmatter, body) of a SKILL.md. The frontmatter is YAML between `---` lines."""
    import yaml

    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ConfigError("no frontmatter: the file must start with a `---` line", file=where)
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == "---")
    except StopIteration:
        raise ConfigError("the frontmatter has no closing `---` line", file=where) from None
    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as err:
        raise ConfigError(f"the frontmatter is not valid YAML: {err}", file=where) from None
    if not isinstance(meta, dict):
        raise ConfigError("the frontmatter is not a mapping", file=where)
    return meta, "\n".join(lines[end + 1 :])


def check_skill(directory: Path) -> list[str]:
    """Problems of the skill in `directory` against the Agent Skills spec (empty: valid)."""
    path = directory / SKILL_FILE
    if not path.is_file():
        return [f"{path}: missing"]
    try:
        meta, body = split_frontmatter(path.read_text(encoding="utf-8"), str(path))
    except ConfigError as err:
        return [err.message]
    problems = [
        f"unknown key '{k}'; allowed: {', '.join(sorted(SPEC_KEYS))}"
        for k in sorted(set(meta) - SPEC_KEYS)
    ]
    problems += _check_name(meta.get("name"), directory.name)
    problems += _check_text("description", meta.get("description"), MAX_DESCRIPTION, required=True)
    problems += _check_text("compatibility", meta.get("compatibility"), MAX_COMPATIBILITY)
    problems += _check_text("license", meta.get("license"), None)
    metadata = meta.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        problems.append("metadata: must map keys to strings")
    tools = meta.get("allowed-tools")
    if tools is not None and not isinstance(tools, str | list):
        problems.append("allowed-tools: must be a string or a list of strings")
    n = len(body.strip().splitlines())
    if not n or n > MAX_BODY_LINES:
        problems.append(f"body: {n} lines; it must have 1 to {MAX_BODY_LINES}")
    return [f"{path}: {p}" for p in problems]


def _check_name(name: Any, folder: str) -> list[str]:
    if not isinstance(name, str) or not name:
        return ["name: required, a non-empty string"]
    out = []
    if len(name) > MAX_NAME or not NAME_RE.match(name):
        out.append(f"name: '{name}' must be 1-{MAX_NAME} of a-z, 0-9 and single inner hyphens")
    if name != folder:
        out.append(f"name: '{name}' must equal its folder's name '{folder}'")
    out += [f"name: '{name}' contains the reserved word '{w}'" for w in RESERVED if w in name]
    return out


def _check_text(key: str, value: Any, limit: int | None, required: bool = False) -> list[str]:
    if value is None:
        return [f"{key}: required"] if required else []
    if not isinstance(value, str) or not value.strip():
        return [f"{key}: must be a non-empty string"]
    out = (
        [f"{key}: {len(value)} characters; at most {limit}"] if limit and len(value) > limit else []
    )
    if key == "description" and re.search(r"<[A-Za-z/][^>]*>", value):
        out.append("description: must not contain XML tags")
    return out


def read_skills(source: Path | None = None) -> list[Skill]:
    """Every skill under `source` (default: `source_dir()`), checked; invalid ones raise."""
    root = source or source_dir()
    skills, problems = [], []
    for path in sorted(root.glob(f"*/{SKILL_FILE}")):
        found = check_skill(path.parent)
        problems += found
        if not found:
            meta, _ = split_frontmatter(path.read_text(encoding="utf-8"), str(path))
            skills.append(Skill(meta["name"], meta["description"].strip(), path.parent))
    if problems:
        raise ConfigError("; ".join(problems), hint="fix the skill files (see docs/skills.md)")
    if not skills:
        raise NotFound(f"no skills in {root}", hint=f"each skill is {root}/NAME/{SKILL_FILE}")
    return skills


# -- installing --------------------------------------------------------------------------


def hook_command() -> str:
    """The hook's shell line, pinned to this Python (so the hook works without the virtualenv
    activated), falling back to ./.venv and PATH, and answering "ask" when none runs
    (trainward.guard.hookcommand)."""
    return hookcommand.hook_command(sys.executable)


def hook_entry(command: str) -> dict[str, Any]:
    """The PreToolUse matcher group that `install` adds to settings.json."""
    return {
        "matcher": "Bash",
        "hooks": [{"type": "command", "command": command, "timeout": HOOK_TIMEOUT_S}],
    }


def install(
    root: Path,
    *,
    scope: str = "project",
    dry_run: bool = False,
    force: bool = False,
    source: Path | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Copy the skills under `root`, stamped with this version (integrations/stamps.py), and
    merge the guard hook into its settings.json. A skill someone changed is kept unless
    `force`; one trainward installed earlier is updated."""
    skills = read_skills(source)
    files, kept = [], []
    for target in TARGETS:
        for skill in skills:
            synced, state = _sync_skill(skill, root / target / skill.name, root, dry_run, force)
            files += synced
            if state == "customised" and not force:
                kept.append(f"{target}/{skill.name}")
    settings = merge_settings(root / SETTINGS, command or hook_command(), dry_run=dry_run)
    settings["path"] = SETTINGS
    changed = settings["action"] != "unchanged" or any(
        f["action"] not in ("unchanged", "kept") for f in files
    )
    return {
        "scope": scope,
        "root": str(root),
        "source": str(skills[0].path.parent),
        "version": __version__,
        "dry_run": dry_run,
        "changed": changed,
        "skills": [s.name for s in skills],
        "targets": list(TARGETS),
        "kept": kept,
        "files": files,
        "settings": settings,
    }


def _sync_skill(
    skill: Skill, dest: Path, root: Path, dry_run: bool, force: bool
) -> tuple[list[dict[str, str]], str]:
    """Install one skill into `dest` (stamped), unless it is a copy someone changed."""
    shipped = {rel.as_posix(): (skill.path / rel).read_bytes() for rel in skill.files()}
    state = stamps.copy_state(dest, shipped, __version__)
    if state == "customised" and not force:
        return [
            {"path": str((dest / rel).relative_to(root)), "action": "kept"} for rel in shipped
        ], state
    text = shipped[SKILL_FILE].decode("utf-8")
    stamped = stamps.stamp(text, __version__, stamps.digest(shipped)).encode("utf-8")
    return [
        _sync_file(
            skill.path / rel, dest / rel, stamped if rel == SKILL_FILE else data, root, dry_run
        )
        for rel, data in shipped.items()
    ], state


def _sync_file(src: Path, dest: Path, data: bytes, root: Path, dry_run: bool) -> dict[str, str]:
    old = dest.read_bytes() if dest.is_file() else None
    action = "unchanged" if old == data else "created" if old is None else "updated"
    if action != "unchanged" and not dry_run:
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(dest, data, fsync=False)
        shutil.copymode(src, dest)
    return {"path": str(dest.relative_to(root)), "action": action}


def merge_settings(path: Path, command: str, *, dry_run: bool = False) -> dict[str, Any]:
    """Add the guard hook to the Claude Code settings file at `path`, keeping the rest."""
    text = path.read_text(encoding="utf-8") if path.is_file() else None
    data = _parse_settings(text, path) if text is not None else {}
    pre = _hook_list(data, path)
    action, note = _merge_hook(pre, command)
    if text is None:
        action = "created"
    if action != "unchanged" and not dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o7777 if text is not None else None
        atomic_write(path, _dump_like(data, text).encode("utf-8"))
        if mode is not None:
            os.chmod(path, mode)
    return {
        "action": action,
        "command": command,
        "runs": hookcommand.describe(command),
        "entry": hook_entry(command),
        "note": note,
    }


def _parse_settings(text: str, path: Path) -> dict[str, Any]:
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"not valid JSON: {err.msg}",
            file=str(path),
            line=err.lineno,
            hint="fix the file (nothing was changed), then run `trainward skills install` again",
        ) from None
    if not isinstance(data, dict):
        raise ConfigError("must hold a JSON object", file=str(path))
    return data


def _hook_list(data: dict[str, Any], path: Path) -> list[Any]:
    hooks = data.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise ConfigError("must be an object", file=str(path), key="hooks")
    pre = hooks.setdefault("PreToolUse", [])
    if not isinstance(pre, list):
        raise ConfigError("must be a list", file=str(path), key="hooks.PreToolUse")
    return pre


def _merge_hook(pre: list[Any], command: str) -> tuple[str, str | None]:
    """Add our matcher group to `pre` unless a guard hook is there; refresh a stale path."""
    ours = _guard_hooks(pre)
    if any(h["command"] == command for h in ours):
        return "unchanged", None
    standard = [h for h in ours if _is_standard(h["command"])]
    if standard:
        standard[0]["command"] = command  # e.g. the virtualenv moved, or an older form
        return "updated", "refreshed the existing guard hook"
    if ours:
        return "unchanged", f"kept your own guard hook: {ours[0]['command']}"
    pre.append(hook_entry(command))
    return "updated", None


def _guard_hooks(pre: list[Any]) -> list[dict[str, Any]]:
    """The guard hooks among a PreToolUse list's matcher groups."""
    groups = [g["hooks"] for g in pre if isinstance(g, dict) and isinstance(g.get("hooks"), list)]
    return [h for hooks in groups for h in hooks if isinstance(h, dict) and is_guard_hook(h)]


def _is_standard(command: str) -> bool:
    """Ours, as `install` writes it now (any pinned Python) or wrote it before
    (`/path/to/trainward guard --hook`, which failed open when that path was gone)."""
    return hookcommand.is_hook_command(command) or shlex.split(command)[1:] == GUARD_ARGS


def is_guard_hook(hook: dict[str, Any]) -> bool:
    """True for a command hook that runs the guard: our shell line, or any command running
    `trainward guard --hook` (any path, any options)."""
    command = hook.get("command")
    if hook.get("type") != "command" or not isinstance(command, str):
        return False
    if hookcommand.is_hook_command(command):
        return True
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return any(
        Path(w).name in ("trainward", "trainward.exe") and words[i + 1 : i + 3] == GUARD_ARGS
        for i, w in enumerate(words)
    )


def _dump_like(data: dict[str, Any], original: str | None) -> str:
    """JSON in the original file's indentation (default 2 spaces), with a final newline."""
    indent: str | int = 2
    if original is not None:
        found = re.search(r"^\{\s*\n([ \t]+)\S", original)
        if found:
            indent = found.group(1)
    return json.dumps(data, indent=indent, ensure_ascii=False) + "\n"


# -- listing -----------------------------------------------------------------------------


def list_skills(project: Path, home: Path, source: Path | None = None) -> dict[str, Any]:
    """The shipped skills, and whether each is current in the project and in the home."""
    skills = read_skills(source)
    return {
        "source": str(skills[0].path.parent),
        "skills": [
            {
                "name": s.name,
                "description": s.description,
                "installed": {"project": _state(s, project), "user": _state(s, home)},
            }
            for s in skills
        ],
        "hook": {"project": _has_hook(project), "user": _has_hook(home)},
    }


def _state(skill: Skill, root: Path) -> str:
    """`current` in every target, else the worst of `missing`, `customised` (changed by
    someone: install keeps it), `outdated` (install updates it)."""
    shipped = {rel.as_posix(): (skill.path / rel).read_bytes() for rel in skill.files()}
    states = {stamps.copy_state(root / t / skill.name, shipped, __version__) for t in TARGETS}
    return next(s for s in ("missing", "customised", "outdated", "current") if s in states)


def _has_hook(root: Path) -> bool:
    path = root / SETTINGS
    try:
        return bool(
            _guard_hooks(json.loads(path.read_text(encoding="utf-8"))["hooks"]["PreToolUse"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False
