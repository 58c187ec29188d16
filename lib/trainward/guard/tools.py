"""The guard's built-in policy for commands other than modal and trainward: following
output (`tail -f`, `nvidia-smi -l`), ending processes (`kill`), deleting trainward's state
(`rm -rf ~/.trainward`), changing the guard's own settings (`> .claude/settings.json`),
and the read-only tools an assistant runs all day.
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase

from trainward.guard.rules import Ctx, Decision, allow, ask, flag, read_only, stream, word_set

READ_ONLY_TOOLS = word_set(
    "ls cat head grep egrep fgrep rg ag find fd echo printf pwd which whereis type wc sort "
    "uniq cut tr jq yq diff cmp stat du df file tree date printenv whoami id hostname uname "
    "nvidia-smi ps pgrep test [ [[ true false cd pushd popd basename dirname realpath "
    "readlink sha256sum md5sum shasum less more column nl tac seq export unset set tail "
    "journalctl dmesg"
)
_GIT_READ = word_set("status log diff show branch rev-parse ls-files blame describe remote")
_STATE_PATHS = (".trainward", "$TRAINWARD_HOME", "${TRAINWARD_HOME}")
_WHOLE_HOME = frozenset({"~", "~/", "$HOME", "${HOME}", "$HOME/", "/", "/*", "~/*", "$HOME/*"})
_STATE_GLOBBED = ("~/.trainward", "$HOME/.trainward", "${HOME}/.trainward", ".trainward")
_KILL = "only when the user asked: `trainward stop RUN --yes` stops a run cleanly"
# Commands that change the files they name (sed and perl only with -i, dd only `of=`).
_CHANGERS = word_set(
    "rm rmdir unlink shred truncate mv cp ln install tee chmod chown chattr touch rsync ed patch"
)
_GIT_CHANGERS = word_set("checkout restore rm mv reset clean stash apply")
_SETTINGS = frozenset({"settings.json", "settings.local.json"})

Rule = Callable[[str, list[str], Ctx, str], Decision | None]


def tool(name: str, args: list[str], ctx: Ctx, home: str) -> Decision:
    """Commands other than modal and trainward (`home`: trainward's state directory)."""
    rule = _RULES.get(name)
    decision = rule(name, args, ctx, home) if rule else None
    if decision is not None:
        return decision
    if name in READ_ONLY_TOOLS:
        return read_only(name)
    return allow("other", f"{name} is not a guarded command")


def _tail(name: str, args: list[str], ctx: Ctx, home: str) -> Decision | None:
    return stream("tail -f", ctx) if flag(args, "-f", "-F", "--follow") else None


def _less(name: str, args: list[str], ctx: Ctx, home: str) -> Decision | None:
    return stream("less +F", ctx) if "+F" in args else None


def _follows(name: str, args: list[str], ctx: Ctx, home: str) -> Decision | None:
    """`journalctl -f`, `dmesg -w`: follow until interrupted."""
    follows = flag(args, "-f", "--follow") if name == "journalctl" else flag(args, "-w", "-W")
    return stream(f"{name} {'-f' if name == 'journalctl' else '-w'}", ctx) if follows else None


def _nvidia_smi(name: str, args: list[str], ctx: Ctx, home: str) -> Decision | None:
    """`nvidia-smi -l N`, `--loop-ms`, `dmon`, `pmon` print until interrupted."""
    loops = flag(args, "-l", "--loop", "-lms", "--loop-ms") or args[:1] in (["dmon"], ["pmon"])
    return stream("nvidia-smi -l", ctx) if loops else None


def _kill(name: str, args: list[str], ctx: Ctx, home: str) -> Decision:
    if name == "kill" and args and args[0] in ("-0", "-l", "-L", "--list"):
        return read_only(f"kill {args[0]}")
    return ask(
        "destructive",
        f"{name} ends processes; a local training run or a launch in progress dies with them",
        _KILL,
    )


def _delete(name: str, args: list[str], ctx: Ctx, home: str) -> Decision | None:
    """rm, mv, truncate, ... of trainward's state, also by a relative path after `cd` into it."""
    paths = [a for a in args if not a.startswith("-")]
    if not (touches_state(paths, home) or (ctx.in_state and any(map(_relative, paths)))):
        return None
    verb = "moves" if name == "mv" else "deletes"
    return ask(
        "destructive",
        f"{name} {verb} trainward's state: the run registry and the local volumes",
        "delete or move single runs' files only when the user asked",
    )


def _relative(path: str) -> bool:
    return not path.startswith(("/", "~", "$"))


def _find(name: str, args: list[str], ctx: Ctx, home: str) -> Decision | None:
    if "-delete" not in args:
        return None
    roots = [a for a in args if not a.startswith(("-", "(", "!"))][:1] or ["."]
    if touches_state(args, home) or (ctx.in_state and _relative(roots[0])):
        return ask("destructive", "find -delete deletes trainward's state (runs, local volumes)")
    return allow("other", "find -delete deletes files outside trainward's state")


def _git(name: str, args: list[str], ctx: Ctx, home: str) -> Decision | None:
    return read_only(f"git {args[0]}") if args and args[0] in _GIT_READ else None


def _wandb(name: str, args: list[str], ctx: Ctx, home: str) -> Decision | None:
    reads = not args or args[0] in ("status", "--version", "--help")
    return read_only("wandb status") if reads else None


def _crontab(name: str, args: list[str], ctx: Ctx, home: str) -> Decision:
    if args == ["-l"] or (flag(args, "-l") and not flag(args, "-r", "-e")):
        return read_only("crontab -l")
    return ask(
        "other",
        "crontab installs or removes scheduled commands: they run later, in the background, "
        "where the guard cannot check them",
        "run the command now, in the foreground, or ask the user to schedule it",
    )


_RULES: dict[str, Rule] = {
    "tail": _tail,
    "less": _less,
    "journalctl": _follows,
    "dmesg": _follows,
    "nvidia-smi": _nvidia_smi,
    **dict.fromkeys(("kill", "pkill", "killall"), _kill),
    **dict.fromkeys(("rm", "rmdir", "shred", "unlink", "truncate", "mv"), _delete),
    "find": _find,
    "git": _git,
    "wandb": _wandb,
    "crontab": _crontab,
}
KNOWN = READ_ONLY_TOOLS | frozenset(_RULES)  # tools whose arguments are not commands


def touches_state(args: list[str], home: str) -> bool:
    """True when an argument names trainward's state (~/.trainward, $TRAINWARD_HOME, a
    `.trainward` directory, the home directory or /), also through a glob (`~/.t*`)."""
    return any(_is_state(arg, home) for arg in args)


def _is_state(arg: str, home: str) -> bool:
    path = arg.rstrip("/") or "/"
    if arg in _WHOLE_HOME or any(marker in arg for marker in _STATE_PATHS):
        return True
    if home and (path == home or path.startswith(home + "/")):
        return True
    globbed = any(c in arg for c in "*?[")
    return globbed and any(_glob_hits(path, p) for p in (*_STATE_GLOBBED, home))


def _glob_hits(pattern: str, path: str) -> bool:
    """Whether the shell glob `pattern` matches `path` or a path under it, component by
    component (a `*` crosses no `/` and matches no leading dot)."""
    want, have = path.split("/"), pattern.split("/")
    return len(have) >= len(want) and all(map(_name_hits, have, want))


def _name_hits(pattern: str, name: str) -> bool:
    if pattern == name:
        return True
    return (name[:1] != "." or pattern[:1] == ".") and fnmatchcase(name, pattern)


def writes(
    name: str,
    args: list[str],
    redirects: tuple[tuple[str, str], ...],
    home: str,
    in_state: bool = False,
) -> Decision | None:
    """Ask before a command changes the guard's own settings (a guard.yaml, Claude Code's
    settings, the `.claude` directory) or empties a file of trainward's state through `>`
    (`in_state`: the shell is inside trainward's state, so a relative path is in it too)."""
    targets = [path for _, path in redirects] + _changed_paths(name, args)
    settings = changes_guard(name, targets)
    if settings is not None:
        return settings
    emptied = [
        p
        for op, p in redirects
        if op in (">", ">|", "&>") and (_is_state(p, home) or (in_state and _relative(p)))
    ]
    if emptied:
        return ask("destructive", f"`> {emptied[0]}` empties a file of trainward's state")
    return None


def changes_guard(name: str, paths: list[str]) -> Decision | None:
    """ "ask" when `name` changes one of `paths` that holds the guard's own settings."""
    settings = next((p for p in paths if is_guard_file(p)), None)
    if settings is None:
        return None
    return ask(
        "other",
        f"{name} changes {settings}, which holds the guard's own settings: an assistant "
        "must not change its own guard",
        "ask the user to make this change",
    )


def changes_state(name: str, paths: list[str], home: str) -> Decision | None:
    """ "ask" when `name` deletes, moves or rewrites one of `paths` in trainward's state."""
    state = next((p for p in paths if _is_state(p, home)), None)
    if state is None:
        return None
    return ask("destructive", f"{name} changes or deletes {state}, part of trainward's state")


def _changed_paths(name: str, args: list[str]) -> list[str]:
    if name in ("sed", "perl") and flag(args, "-i", "--in-place"):
        return args
    if name == "dd":
        return [a.removeprefix("of=") for a in args if a.startswith("of=")]
    if name == "git":
        return args if args[:1] and args[0] in _GIT_CHANGERS else []
    return args if name in _CHANGERS else []


def is_guard_file(path: str) -> bool:
    """A guard.yaml, Claude Code's settings (where the hook is), or a `.claude` directory;
    also a glob that matches one (`.claude/*`, `~/.c*`)."""
    parts = path.rstrip("/").split("/")
    last, dirs = parts[-1], parts[:-1]
    if last in ("guard.yaml", "managed-settings.json") or _name_hits(last, ".claude"):
        return True
    in_claude = any(_name_hits(d, ".claude") for d in dirs)
    return in_claude and any(_name_hits(last, n) for n in (*_SETTINGS, "hooks.json"))
