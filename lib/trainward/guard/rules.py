"""The guard's built-in policy for one command, after the engine in `trainward.guard` has
removed its wrappers (`env`, `timeout`, `nohup`, `uv run`, `python -m`, ...).

Each rule answers a `Decision`: allow, ask or deny, with a category (read-only, launch,
destructive, forbidden, other), a reason, and the command to run instead. `Ctx` carries
what the wrappers said about how the command runs: in the background, or bounded by
`timeout N`. docs/guard.md is the policy in prose; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, NamedTuple

Verdict = Literal["allow", "ask", "deny"]
Category = Literal["read-only", "launch", "destructive", "forbidden", "other"]

VERDICTS: tuple[Verdict, ...] = ("allow", "ask", "deny")
CATEGORIES: tuple[Category, ...] = ("read-only", "other", "launch", "destructive", "forbidden")
DEFAULT_SMOKE_TIMEOUT_S = 600.0

_LAUNCH_ALT = (
    "trainward launch EXPERIMENT.yaml (detached and recorded), or "
    "`modal run --detach REF ...` with --detach before the function reference"
)
_LOGS_ALT = (
    "bounded logs: `trainward logs RUN --tail 200` or `modal app logs APP` (fetches and exits)"
)


class Decision(NamedTuple):
    """What the guard says about a command. `source` names the rule that decided: `default`
    (the built-in policy) or `FILE:LINE` of a guard.yaml rule."""

    decision: Verdict
    category: Category
    reason: str
    alternative: str | None = None
    source: str = "default"

    @property
    def severity(self) -> tuple[int, int]:
        return VERDICTS.index(self.decision), CATEGORIES.index(self.category)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "category": self.category,
            "reason": self.reason,
            "alternative": self.alternative,
            "source": self.source,
        }

    def summary(self) -> str:
        line = f"{self.decision} ({self.category}): {self.reason}"
        return f"{line}; instead: {self.alternative}" if self.alternative else line


class Ctx(NamedTuple):
    """How a command runs: what its wrappers and its place in the script say."""

    background: bool = False
    timeout_s: float | None = None
    smoke_timeout_s: float = DEFAULT_SMOKE_TIMEOUT_S
    writes: tuple[tuple[str, str], ...] = ()  # (operator, file) of its redirections out
    captured: bool = False  # inside $(..): its output becomes a word, not the transcript
    in_file: bool = False  # read from a script file, not typed on the command line
    in_state: bool = False  # the shell has `cd`ed into trainward's state directory

    @property
    def writes_file(self) -> bool:
        return any(path != "/dev/null" for _, path in self.writes)

    @property
    def bounded(self) -> bool:
        return self.timeout_s is not None and self.timeout_s <= self.smoke_timeout_s


def combine(parts: Iterable[Decision]) -> Decision:
    """The most severe verdict and category of the parts; the reason of the worst part."""
    items = list(parts)
    if not items:
        return allow("other", "nothing to run")
    worst = max(items, key=lambda d: d.severity)
    category = max((d.category for d in items), key=CATEGORIES.index)
    return Decision(worst.decision, category, worst.reason, worst.alternative, worst.source)


def word_set(spec: str) -> frozenset[str]:
    """frozenset of the space-separated words in `spec`."""
    return frozenset(spec.split())


def allow(category: Category, reason: str) -> Decision:
    return Decision("allow", category, reason)


def ask(category: Category, reason: str, alternative: str | None = None) -> Decision:
    return Decision("ask", category, reason, alternative)


def deny(reason: str, alternative: str) -> Decision:
    return Decision("deny", "forbidden", reason, alternative)


def read_only(what: str) -> Decision:
    return allow("read-only", f"{what} only reads")


def launch(what: str, ctx: Ctx) -> Decision:
    """A launch is fine in the foreground; in the background its output and errors are lost."""
    if ctx.background:
        return deny(
            f"{what} is run in the background (&, nohup, setsid, screen, tmux): its errors and "
            "the run's identity are lost, and an interrupt during the image build still kills it",
            f"run it in the foreground; {_LAUNCH_ALT}",
        )
    return allow("launch", f"{what} launches a run that survives this client")


def stream(what: str, ctx: Ctx) -> Decision:
    """A command that follows output forever blocks the session, unless `timeout` bounds it
    or it runs in the background (`&`, Claude Code's run_in_background)."""
    if ctx.bounded:
        return allow("read-only", f"{what} follows output, bounded by timeout {ctx.timeout_s:g}s")
    if ctx.background:
        return allow("read-only", f"{what} follows output in the background: nothing waits on it")
    return deny(f"{what} follows output until interrupted and blocks this session", _LOGS_ALT)


def flag(args: list[str], *names: str) -> bool:
    """True if any of `names` is given (also as --name=value, or inside -abc for 1 letter)."""
    for arg in args:
        if arg == "--":
            return False
        if arg in names or arg.split("=", 1)[0] in names:
            return True
        short = {n[1] for n in names if len(n) == 2 and n[0] == "-"}
        if arg[:1] == "-" and arg[1:2] != "-" and short & set(arg[1:]):
            return True
    return False


# -- modal -------------------------------------------------------------------------

_RUN_VALUE_OPTS = frozenset({"-n", "--name", "-w", "--write-result", "-e", "--env", "--profile"})
_RUN_FLAGS = frozenset({"-q", "--quiet", "-d", "--detach", "-i", "--interactive", "-m"})
_RUN_SHORT_VALUES = "nwe"  # -n NAME, -w PATH, -e ENV: the rest of a -dn... cluster is the value
_READ_VERBS = word_set(
    "list ls info show get history stats logs current dashboard items len peek inspect report "
    "rates status"
)
_DELETE_VERBS = word_set("delete rm remove stop clear rollback rollover kill")
_HELP = ("--help", "-h")
MODAL_GROUPS = word_set(
    "app container volume secret environment dict queue nfs token profile config image "
    "function server endpoint workspace billing skills"
)


def parse_modal_run(args: list[str]) -> tuple[bool, bool, int]:
    """(detach, help, index of the function reference) for `modal run ARGS`, as modal's
    RunGroup parses them: options count only before the reference; later ones are the
    function's own (so `modal run x.py --detach` does not detach)."""
    detach = help_ = False
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0]
        if arg == "--":
            return detach, help_, i + 1
        if arg == "-" or not arg.startswith("-"):
            break
        if name in _RUN_VALUE_OPTS:
            i += 1 if "=" in arg else 2
            continue
        if arg.startswith("--") or name in _RUN_FLAGS:
            detach = detach or name in ("-d", "--detach")
            help_ = help_ or name in _HELP
            i += 1
            continue
        flags, takes_next = _short_cluster(arg)  # -dq, -dn NAME, -dnNAME
        detach, help_ = detach or "d" in flags, help_ or "h" in flags
        i += 2 if takes_next else 1
    return detach, help_, i


def _short_cluster(arg: str) -> tuple[str, bool]:
    """(flag letters, whether the next word is a value) for a short-option cluster."""
    for pos, ch in enumerate(arg[1:], start=1):
        if ch in _RUN_SHORT_VALUES:
            return arg[1:pos], pos == len(arg) - 1
    return arg[1:], False


def modal_run(args: list[str], ctx: Ctx) -> Decision:
    detach, help_, ref = parse_modal_run(args)
    if help_ or flag(args[ref + 1 :], "--help"):
        return read_only("modal run --help")
    if ref >= len(args):
        return allow("other", "modal run without a function reference runs nothing")
    if detach:
        return launch("modal run --detach", ctx)
    if ctx.bounded and not ctx.background:
        return allow(
            "launch",
            f"an attached smoke test, bounded by timeout {ctx.timeout_s:g}s "
            f"(<= {ctx.smoke_timeout_s:g}s)",
        )
    reason = "modal run without --detach stops the app when this client exits or is interrupted"
    if ctx.background:
        reason += "; backgrounding the client (&, nohup, setsid, screen, tmux) does not detach it"
    if {"-d", "--detach"} & set(args[ref + 1 :]):
        reason += "; --detach after the function reference is passed to the function, not to modal"
    smoke = (
        f"a short smoke test may run attached as `timeout {ctx.smoke_timeout_s:g} modal run ...`"
    )
    return deny(reason, f"{_LAUNCH_ALT}; {smoke}")


def modal(args: list[str], ctx: Ctx, literal_keys: list[str]) -> Decision:
    """`modal ARGS`: route to the subcommand's rule. `literal_keys`: the KEY of each KEY=VALUE
    argument whose value is written out rather than expanded from $VAR (for secrets)."""
    i = 0
    while i < len(args) and args[i].split("=", 1)[0] == "--profile":
        i += 1 if "=" in args[i] else 2
    if i >= len(args) or args[i] in (*_HELP, "--version"):
        return read_only("modal --help")
    sub, rest = args[i], args[i + 1 :]
    if sub == "run":
        return modal_run(rest, ctx)
    if flag(rest, *_HELP):
        return read_only(f"modal {sub} --help")
    if sub == "serve":
        if ctx.bounded and not ctx.background:
            return allow("launch", f"modal serve bounded by timeout {ctx.timeout_s:g}s")
        return deny(
            "modal serve runs until interrupted and its app stops with this client",
            "`modal deploy APP.py` for a lasting app",
        )
    if sub == "deploy":
        return launch("modal deploy", ctx)
    if sub == "shell":
        if flag(rest, "-c", "--cmd"):
            return ask(
                "other", "modal shell --cmd runs a command in a container with the app's volumes"
            )
        return deny(
            "modal shell without --cmd is interactive; an assistant has no terminal and it would hang",
            "`modal shell REF --cmd 'COMMAND'` or `modal volume ls VOLUME PATH`",
        )
    verb = next((a for a in rest if not a.startswith("-")), "")
    if (sub, verb) == ("secret", "create"):
        return secret_create(rest, literal_keys)
    return _modal_verb(sub, verb, rest, ctx)


def _modal_verb(group: str, verb: str, rest: list[str], ctx: Ctx) -> Decision:
    what = f"modal {group} {verb}".strip()
    special = _MODAL_SPECIAL.get((group, verb)) or _MODAL_SPECIAL.get(("*", verb))
    if special is not None:
        return special(what, rest, ctx)
    if (group, verb) in _BROWSER_LOGINS:
        return ask(
            "other",
            f"{what} opens a browser and waits for a login; an assistant's command would hang",
            f"ask the user to run `{what}` in their own terminal",
        )
    if group in ("changelog", "dashboard") or (not verb and group in MODAL_GROUPS):
        return read_only(what)
    if verb in _READ_VERBS:
        return read_only(what)
    if verb in _DELETE_VERBS:
        return ask("destructive", f"{what} deletes or stops something that cannot be brought back")
    return allow("other", f"{what} changes Modal state but loses nothing")


def _logs(what: str, rest: list[str], ctx: Ctx) -> Decision:
    return stream(f"{what} -f", ctx) if flag(rest, "-f", "--follow") else read_only(what)


def _stop(what: str, rest: list[str], ctx: Ctx) -> Decision:
    return ask(
        "destructive",
        f"{what} stops running containers: a training run in them is lost",
        "only when the user asked: `trainward stop RUN --yes` with the exact run name",
    )


def _volume_delete(what: str, rest: list[str], ctx: Ctx) -> Decision:
    return ask(
        "destructive",
        f"{what} deletes data on a volume (checkpoints, datasets) for good",
        "copy what you need first (`trainward pull RUN`); delete only when the user asked",
    )


def _volume_overwrite(what: str, rest: list[str], ctx: Ctx) -> Decision:
    if what == "modal volume cp" or flag(rest, "-f", "--force"):
        return ask("destructive", f"{what} may overwrite existing files on the volume")
    return allow("other", f"{what} refuses to overwrite existing files")


def _volume_get(what: str, rest: list[str], ctx: Ctx) -> Decision:
    if flag(rest, "--force"):
        return ask("destructive", f"{what} --force overwrites local files")
    return read_only(what)


def secret_create(args: list[str], literal_keys: list[str]) -> Decision:
    """`modal secret create NAME K=V ...`; `literal_keys` are the keys whose value is written
    out on the command line (not an expansion like $X). Never echoes a value."""
    if flag(args, "--force"):
        return ask("destructive", "modal secret create --force replaces an existing secret")
    if literal_keys:
        return ask(
            "other",
            "modal secret create with the value of " + ", ".join(literal_keys) + " on the "
            "command line puts the secret into the transcript and shell history",
            '`modal secret create NAME --from-dotenv .env`, `--from-json FILE`, or KEY="$KEY"',
        )
    return allow("other", "modal secret create takes its values from the environment or a file")


def _environment_delete(what: str, rest: list[str], ctx: Ctx) -> Decision:
    return ask("destructive", f"{what} deletes every app, volume and secret in the environment")


def _container_exec(what: str, rest: list[str], ctx: Ctx) -> Decision:
    return ask("other", f"{what} runs a command inside a running container, maybe a training run")


_BROWSER_LOGINS = frozenset({("setup", ""), ("token", "new")})
_MODAL_SPECIAL: dict[tuple[str, str], Any] = {
    ("*", "logs"): _logs,  # app, container, function, ... logs: -f follows
    ("app", "stop"): _stop,
    ("container", "stop"): _stop,
    ("volume", "rm"): _volume_delete,
    ("volume", "delete"): _volume_delete,
    ("volume", "rename"): _volume_delete,
    ("volume", "put"): _volume_overwrite,
    ("volume", "cp"): _volume_overwrite,
    ("volume", "get"): _volume_get,
    ("environment", "delete"): _environment_delete,
    ("container", "exec"): _container_exec,
}


# -- trainward -----------------------------------------------------------------------

_TRAINWARD_READ = word_set("status runs logs pull doctor guard wait version help")


def trainward(args: list[str], ctx: Ctx) -> Decision:
    words = [a for a in args if not a.startswith("-")]
    sub = words[0] if words else ""
    what = f"trainward {sub}".strip()
    dry = flag(args, "--dry-run")
    if not sub or sub in _TRAINWARD_READ or flag(args, *_HELP):
        return read_only(what)
    if sub in ("launch", "sweep"):
        return read_only(f"{what} --dry-run") if dry else launch(what, ctx)
    if sub == "stop":
        return read_only(f"{what} --dry-run") if dry else _stop(what, args, ctx)
    if sub == "data":
        verb = words[1] if len(words) > 1 else ""
        if verb == "push" and flag(args, "--delete") and not dry:
            return ask(
                "destructive",
                "trainward data push --delete removes files on the volume that are not local",
                "`trainward data push ... --delete --dry-run` first, to see what would go",
            )
        if verb in ("status", "ls", "list", "") or dry:
            return read_only(f"{what} {verb}".strip())
        return allow("other", f"{what} {verb} uploads only what changed")
    return allow("other", f"{what} is not a guarded command")


def modal_train_script(args: list[str], ctx: Ctx) -> Decision:
    """`python scripts/modal_train.py`: its main spawns a detached run."""
    if flag(args, *_HELP):
        return read_only("modal_train.py --help")
    return launch("python scripts/modal_train.py", ctx)
