"""The guard's built-in policy for commands other than modal and trainward: following
output (`tail -f`), ending processes (`kill`), deleting trainward's state (`rm -rf
~/.trainward`), and the read-only tools an assistant runs all day.
"""

from __future__ import annotations

from trainward.guard.rules import Ctx, Decision, allow, ask, flag, read_only, stream, word_set

READ_ONLY_TOOLS = word_set(
    "ls cat head grep egrep fgrep rg ag find fd echo printf pwd which whereis type wc sort "
    "uniq cut tr jq yq diff cmp stat du df file tree date printenv whoami id hostname uname "
    "nvidia-smi ps pgrep test [ [[ true false cd pushd popd basename dirname realpath "
    "readlink sha256sum md5sum shasum less more column nl tac seq export unset set"
)
_GIT_READ = word_set("status log diff show branch rev-parse ls-files blame describe remote")
_STATE_PATHS = (".trainward", "$TRAINWARD_HOME", "${TRAINWARD_HOME}")
_WHOLE_HOME = frozenset({"~", "~/", "$HOME", "${HOME}", "$HOME/", "/", "/*", "~/*", "$HOME/*"})


def tool(name: str, args: list[str], ctx: Ctx, home: str) -> Decision:
    """Commands other than modal and trainward."""
    if name == "tail":
        return stream("tail -f", ctx) if flag(args, "-f", "-F", "--follow") else read_only(name)
    if name == "less" and "+F" in args:
        return stream("less +F", ctx)
    if name == "journalctl" and flag(args, "-f", "--follow"):
        return stream("journalctl -f", ctx)
    if name == "kill" and args and (args[0] in ("-0", "-l", "-L", "--list")):
        return read_only(f"kill {args[0]}")
    if name in ("kill", "pkill", "killall"):
        return ask(
            "destructive",
            f"{name} ends processes; a local training run or a launch in progress dies with them",
            "only when the user asked: `trainward stop RUN --yes` stops a run cleanly",
        )
    if name in ("rm", "rmdir", "shred") and _touches_state(args, home):
        return ask(
            "destructive",
            f"{name} deletes trainward's state: the run registry and the local volumes",
            "delete single runs' files only when the user asked",
        )
    if name == "find" and "-delete" in args:
        if _touches_state(args, home):
            return ask(
                "destructive", "find -delete deletes trainward's state (runs, local volumes)"
            )
        return allow("other", "find -delete deletes files outside trainward's state")
    if name == "git" and args and args[0] in _GIT_READ:
        return read_only(f"git {args[0]}")
    if name == "wandb" and (not args or args[0] in ("status", "--version", "--help")):
        return read_only("wandb status")
    if name in READ_ONLY_TOOLS:
        return read_only(name)
    return allow("other", f"{name} is not a guarded command")


def _touches_state(args: list[str], home: str) -> bool:
    for arg in args:
        path = arg.rstrip("/") or "/"
        if arg in _WHOLE_HOME or any(marker in arg for marker in _STATE_PATHS):
            return True
        if home and (path == home or path.startswith(home + "/")):
            return True
    return False
