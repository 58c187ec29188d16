"""Commands that run other commands given as words, for the guard's engine.

Plain wrappers (`nohup`, `sudo`, `nice`, `uv run`, `xargs`, ...) are a table: which of
their options take a value, which subcommand wraps (`uv run`), and whether the wrapped
command ends up in the background. The rest are handlers that know their command's
shape: `timeout N` (a time bound), `watch` (never returns), `find -exec`, and `env -S`.
Commands that run a script from a string or stdin are in `trainward.guard.scripts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from trainward.guard import rules, tools
from trainward.guard.parse import Command, Word
from trainward.guard.rules import Ctx, Decision, combine, deny, word_set
from trainward.guard.session import Session

_MODULE_FLAGS = frozenset({"-m", "--module"})  # `uv run -m X` is `python -m X`


class Engine(Protocol):
    home: str  # trainward's state directory
    session: Session  # what earlier commands of this command line set up

    def words(
        self, words: list[Word], ctx: Ctx, depth: int, cmd: Command | None = None
    ) -> Decision: ...

    def nested(self, text: str, ctx: Ctx, depth: int) -> Decision: ...


class Wrap(NamedTuple):
    """A command that runs its arguments as another command."""

    values: frozenset[str] = frozenset()  # its options that take a value
    subs: tuple[tuple[str, ...], ...] = ()  # the subcommand that wraps: ("run",) for uv run
    background: bool = False


_UV = word_set(
    "--with --with-editable --with-requirements --python -p --project --directory --env-file "
    "--extra --group --only-group --package --index --default-index --index-url "
    "--extra-index-url --find-links -f --config-file --cache-dir --color --from -w"
)
_CONDA = word_set("-n --name -p --prefix --cwd")
WRAPS: dict[str, Wrap] = {
    "nohup": Wrap(background=True),
    "setsid": Wrap(background=True),
    "daemonize": Wrap(background=True),
    "systemd-run": Wrap(
        word_set(
            "-u --unit -p --property -E --setenv -M --machine -H --host --description --slice"
        ),
        background=True,
    ),
    "nice": Wrap(word_set("-n --adjustment")),
    "ionice": Wrap(word_set("-c --class -n --classdata -p --pid -P --pgid -u --uid")),
    "sudo": Wrap(
        word_set(
            "-u --user -g --group -h --host -p --prompt -C --close-from -D --chdir -r --role "
            "-t --type -U --other-user -T --command-timeout"
        )
    ),
    "doas": Wrap(word_set("-u -C")),
    "exec": Wrap(word_set("-a")),
    "builtin": Wrap(),
    "busybox": Wrap(),
    "command": Wrap(),
    "time": Wrap(word_set("-f --format -o --output")),
    "stdbuf": Wrap(word_set("-i --input -o --output -e --error")),
    "caffeinate": Wrap(word_set("-t -w")),
    "env": Wrap(word_set("-u --unset -C --chdir")),
    "xargs": Wrap(
        word_set(
            "-I -L -n -P -s -d -E -a -e --max-args --max-procs --delimiter --arg-file --eof "
            "--max-lines --max-chars --process-slot-var"
        )
    ),
    "uv": Wrap(_UV, subs=(("run",), ("tool", "run"))),
    "uvx": Wrap(_UV),
    "pipx": Wrap(word_set("--spec --python --pip-args --index-url"), subs=(("run",),)),
    "poetry": Wrap(word_set("-C --directory -P --project"), subs=(("run",),)),
    "pdm": Wrap(word_set("-p --project"), subs=(("run",),)),
    "conda": Wrap(_CONDA, subs=(("run",),)),
    "mamba": Wrap(_CONDA, subs=(("run",),)),
    "micromamba": Wrap(_CONDA, subs=(("run",),)),
    "hatch": Wrap(word_set("-e --env"), subs=(("run",),)),
    "rye": Wrap(subs=(("run",),)),
    "pixi": Wrap(word_set("-e --environment --manifest-path"), subs=(("run",),)),
    "unbuffer": Wrap(),
    "coproc": Wrap(background=True),  # bash's `coproc CMD` runs CMD in the background
}
_STDIN_ARGS = Word([("{args from stdin}", True)])


def skip_options(
    args: Sequence[Word], i: int, values: frozenset[str], stop: frozenset[str] = frozenset()
) -> int:
    """Index of the first operand at or after `i`, skipping options (and their values)."""
    while i < len(args):
        arg = args[i].text
        if arg == "--":
            return i + 1
        if not arg.startswith("-") or arg == "-" or arg in stop:
            return i
        if arg in values:
            i += 2
        elif arg.startswith("--"):
            i += 1
        else:  # a short cluster: the first letter taking a value takes the rest, or the next word
            takes = [pos for pos, ch in enumerate(arg[1:], 1) if f"-{ch}" in values]
            i += 2 if takes and takes[0] == len(arg) - 1 else 1
    return i


def unwrap(name: str, spec: Wrap, args: list[Word]) -> list[Word] | None:
    """The wrapped command's words ([] when none is given); None when this invocation does
    not wrap a command (`uv pip install`)."""
    i = skip_options(args, 0, spec.values, _MODULE_FLAGS)
    if spec.subs:
        sub = next(
            (s for s in spec.subs if [w.text for w in args[i : i + len(s)]] == list(s)), None
        )
        if sub is None:
            return None
        i = skip_options(args, i + len(sub), spec.values, _MODULE_FLAGS)
    if i < len(args) and args[i].text in _MODULE_FLAGS:
        return [Word.literal("python"), Word.literal("-m"), *args[i + 1 :]]
    inner = args[i:]
    replaces = any(w.text.startswith(("-I", "-i", "--replace")) for w in args[:i])
    if name == "xargs" and inner and not replaces:
        inner = [*inner, _STDIN_ARGS]  # xargs appends what it reads
    return inner


def duration(text: str) -> float | None:
    """Seconds in a `timeout` duration (300, 5m, 1.5h); None for 0 (no limit) or garbage."""
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(text[-1:], 0)
    try:
        value = float(text[:-1] if scale else text) * (scale or 1)
    except ValueError:
        return None
    return value if value > 0 else None


Special = Callable[[Engine, str, list[Word], Ctx, int, Command | None], Decision | None]


def join_words(words: Sequence[Word]) -> str:
    return " ".join(w.text for w in words)


_ENDS_A_RUN = word_set("TERM INT KILL HUP QUIT ALRM 15 2 9 1 3 14")


def _timeout(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    """`timeout [-s SIG] [-k KILL_AFTER] DURATION CMD`: a bound, when the signal ends CMD."""
    i = skip_options(args, 0, word_set("-s --signal -k --kill-after"))
    if i >= len(args):
        return None
    signal = option_value(args[:i], "-s", "--signal") or "TERM"
    kill_after = duration(option_value(args[:i], "-k", "--kill-after") or "0")
    seconds = duration(args[i].text)
    if seconds is not None and signal.upper().removeprefix("SIG") not in _ENDS_A_RUN:
        seconds = seconds + kill_after if kill_after is not None else None
    if seconds is None:
        return e.words(args[i + 1 :], ctx, depth)
    bound = seconds if ctx.timeout_s is None else min(seconds, ctx.timeout_s)
    return e.words(args[i + 1 :], ctx._replace(timeout_s=bound), depth)


def option_value(args: Sequence[Word], short: str, long: str) -> str | None:
    """The value of an option given as -sVAL, -s VAL, -xs VAL, --long=VAL or --long VAL."""
    for i, word in enumerate(args):
        text = word.text
        following = args[i + 1].text if i + 1 < len(args) else None
        if text == long or (text[:1] == "-" and text[1:2] != "-" and text.endswith(short[1])):
            return following
        if text.startswith(long + "="):
            return text.split("=", 1)[1]
        if text.startswith(short) and len(text) > 2:
            return text[2:]
    return None


def _env(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    """`env -S 'CMD ARGS'` (also `-S'CMD'`, `-iS CMD`, `--split-string=CMD`) splits CMD."""
    for i, word in enumerate(args):
        text, rest = word.text, join_words(args[i + 1 :])
        if text.startswith("--split-string"):
            return e.nested(text.partition("=")[2] + " " + rest, ctx, depth)
        if not text.startswith("-"):
            return None
        cluster = "" if text.startswith("--") else text[1:]
        letters = cluster.split("u", 1)[0].split("C", 1)[0]  # -u NAME, -C DIR take the rest
        if "S" in letters:
            return e.nested(cluster[cluster.index("S") + 1 :] + " " + rest, ctx, depth)
    return None


def _command(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    if args and args[0].text in ("-v", "-V"):
        return rules.read_only(f"command {args[0].text}")
    return None


def _watch(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    i = skip_options(args, 0, word_set("-n --interval -q --equexit"))
    if i >= len(args):
        return None
    inner = e.nested(join_words(args[i:]), ctx, depth)
    if ctx.bounded or ctx.background:
        return combine([rules.read_only("watch, bounded or in the background"), inner])
    loop = deny(
        "watch repeats its command until interrupted and blocks this session",
        "run the command once; to wait for a run to finish: `trainward wait RUN`",
    )
    return combine([loop, inner])


def _find(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    roots = [w for w in args if not w.text.startswith(("-", "(", "!"))][:1] or [Word.literal(".")]
    parts, i = [], 0
    while i < len(args):
        if args[i].text in ("-exec", "-execdir", "-ok", "-okdir"):
            j = next((k for k in range(i + 1, len(args)) if args[k].text in (";", "+")), len(args))
            inner = [roots[0] if w.text == "{}" else w for w in args[i + 1 : j]]
            parts.append(e.words(inner, ctx, depth))
            i = j
        i += 1
    if not parts:
        return None
    return combine([*parts, tools.tool("find", [w.text for w in args], ctx, e.home)])


_FD_EXEC = frozenset({"-x", "--exec", "-X", "--exec-batch"})


def _fd(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    """`fd PATTERN -x CMD ...` runs CMD for each file found (the rest of the line, up to `;`)."""
    i = next((i for i, w in enumerate(args) if w.text in _FD_EXEC), None)
    if i is None:
        return None
    j = next((k for k in range(i + 1, len(args)) if args[k].text == ";"), len(args))
    inner = [Word.literal(".") if w.text.startswith("{") else w for w in args[i + 1 : j]]
    return combine([e.words(inner, ctx, depth), rules.read_only("fd")])


SPECIAL: dict[str, Special] = {
    "timeout": _timeout,
    "gtimeout": _timeout,  # GNU timeout on macOS (coreutils)
    "fd": _fd,
    "env": _env,
    "command": _command,
    "watch": _watch,
    "find": _find,
}
