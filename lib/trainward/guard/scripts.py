"""Commands that run a shell script given some other way than as words: in a string
(`bash -c`, `eval`, `ssh HOST CMD`, `su -c`, `script -c`, `trap CMD EXIT`, `alias`), on
stdin (`bash <<EOF`, `echo ... | sh`, `cat <<EOF | sh`, `bash /dev/stdin`, `at`), from a
file (`bash x.sh`, `source x.sh`: unseen), or typed into a terminal multiplexer
(`screen -X stuff`, `tmux send-keys`). Each handler hands the script back to the engine, which classifies it
like any other command line.
"""

from __future__ import annotations

from trainward.guard.parse import Command, Word
from trainward.guard.rules import Ctx, Decision, allow, ask, combine, word_set
from trainward.guard.session import UNKNOWN, output_text
from trainward.guard.wrap import Engine, Special, join_words, option_value, skip_options


def _shell(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    """`bash -c SCRIPT`, `bash FILE`, or `bash` reading its script from stdin."""
    i, has_c = 0, False
    while i < len(args):
        arg = args[i].text
        if arg in ("--", "-"):
            i += 1
            break
        if arg in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
        elif arg[:1] in ("-", "+") and len(arg) > 1:
            has_c = has_c or (arg[0] == "-" and arg[1] != "-" and "c" in arg[1:])
            i += 1
        else:
            break
    operands = args[i:]
    if has_c:
        return (
            e.nested(operands[0].text, ctx, depth)
            if operands
            else allow("other", f"{name} -c without a script")
        )
    return _script_file(e, name, operands[0] if operands else None, ctx, depth, cmd)


_STDIN_FILES = frozenset({"/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "-"})


def _script_file(
    e: Engine, name: str, file: Word | None, ctx: Ctx, depth: int, cmd: Command | None
) -> Decision:
    """A shell running the script in `file` (`bash x.sh`, `source x.sh`); None: stdin."""
    if file is None or file.text in _STDIN_FILES:
        return _stdin_script(e, name, ctx, depth, cmd)
    if file.dynamic:  # bash <(curl ...), source "$SCRIPT"
        return ask(
            "other",
            f"{name} runs a script only known at run time ({file.text})",
            "run the commands directly, or write them to a script the user can review",
        )
    status, text = e.session.script_text(file.text)
    if status == "text":
        return e.nested(text, ctx._replace(in_file=True), depth)
    if status == UNKNOWN:
        return ask(
            "other",
            f"{name} runs {file.text}, which this command line writes with content the guard "
            "cannot see",
            "write the script in one command, then run it in another, so it can be checked",
        )
    return allow("other", f"{name} runs the script {file.text}; the guard cannot see inside it")


def _source(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    """`source FILE` / `. FILE`: the current shell runs FILE."""
    operands = [w for w in args if w.text != "--"]
    return _script_file(e, name, operands[0], ctx, depth, cmd) if operands else None


def _stdin_script(e: Engine, name: str, ctx: Ctx, depth: int, cmd: Command | None) -> Decision:
    if cmd is not None and cmd.stdin_text is not None:
        return e.nested(cmd.stdin_text, ctx, depth)
    if cmd is None or not cmd.piped:
        return allow("other", f"{name} with no script")
    seen = output_text(cmd.pipe_source)
    if seen is not None:
        return e.nested(seen, ctx, depth)
    return ask(
        "other",
        f"{name} runs commands read from a pipe; the guard cannot see them",
        "run the commands directly, or write them to a script the user can review",
    )


def _eval(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    return e.nested(join_words(args), ctx, depth)


_SSH_VALUES = word_set("-b -c -D -E -e -F -I -i -J -L -l -m -O -o -p -Q -R -S -W -w -B")


def _ssh(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    i = skip_options(args, 0, _SSH_VALUES)
    if i + 1 >= len(args):
        return None
    return e.nested(join_words(args[i + 1 :]), ctx, depth)


def _su(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    """`su -c CMD`, `script -qc CMD`: CMD is a shell script."""
    script = option_value(args, "-c", "--command")
    return e.nested(script, ctx, depth) if script is not None else None


def _script(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    """`script -c CMD [FILE]` (util-linux), `script [-q] FILE CMD ...` (BSD, macOS)."""
    if option_value(args, "-c", "--command") is not None:
        return _su(e, name, args, ctx, depth, cmd)
    i = skip_options(args, 0, word_set("-E -I -O -B -T -m -t -F"))
    return e.words(args[i + 1 :], ctx, depth) if len(args) > i + 1 else None


def _trap(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    """`trap 'CMD' SIGNAL...`: the shell runs CMD when the signal (or EXIT) comes."""
    operands = [w for w in args if w.text != "--"]
    if len(operands) < 2 or operands[0].text.startswith("-"):
        return allow("other", "trap resets or lists signal handlers")
    return e.nested(operands[0].text, ctx, depth)


def _alias(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    """`alias m='modal run'`: what the alias would run, with any arguments."""
    parts = [allow("other", "alias defines a name")]
    for word in args:
        alias, sep, value = word.text.partition("=")
        if sep and value:
            found = e.nested(f'{value} "$@"', ctx, depth)
            if found.decision != "allow":
                reason = f"alias {alias} runs `{value} ...`, which the guard would {found.decision}"
                parts.append(ask("other", f"{reason}: {found.reason}", found.alternative))
    return combine(parts)


_SCREEN_FLAGS = frozenset({"-ls", "-list", "-wipe", "-v", "-version", "-r", "-R", "-x"})


def _screen(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    bg = ctx._replace(background=True)
    i = 0
    while i < len(args) and args[i].text.startswith("-"):
        arg = args[i].text
        if arg == "-X":
            rest = [w.text for w in args[i + 1 :]]
            if rest[:1] == ["stuff"]:
                return e.nested(
                    " ".join(rest[1:]).replace("\\n", "\n").replace("^M", "\n"), bg, depth
                )
            return allow("other", "screen -X sends a command to a session")
        takes_value = arg not in _SCREEN_FLAGS and (arg == "-Logfile" or arg[-1] in "SceEhpTt")
        i += 2 if takes_value else 1
    return e.words(args[i:], bg, depth) if i < len(args) else None


_TMUX_RUN = frozenset(
    [
        "new-session",
        "new",
        "new-window",
        "neww",
        "split-window",
        "splitw",
        "respawn-pane",
        "respawnp",
        "respawn-window",
        "respawnw",
        "run-shell",
        "run",
        "display-popup",
        "popup",
    ]
)
_TMUX_VALUES = word_set("-s -n -c -t -x -y -e -F -f -l -p -w -T -L -S -N")
_TMUX_KEYS = {"Enter": "\n", "C-m": "\n", "KPEnter": "\n", "C-j": "\n", "Space": " "}


def _tmux(
    e: Engine, name: str, args: list[Word], ctx: Ctx, depth: int, cmd: Command | None
) -> Decision | None:
    parts, segment = [], []
    for word in [*args, Word.literal(";")]:
        if word.text != ";":
            segment.append(word)
            continue
        decision = _tmux_command(e, segment, ctx, depth)
        if decision is not None:
            parts.append(decision)
        segment = []
    return combine(parts) if parts else None


def _tmux_command(e: Engine, args: list[Word], ctx: Ctx, depth: int) -> Decision | None:
    i = 0
    while i < len(args) and args[i].text.startswith("-"):
        if args[i].text == "-c" and i + 1 < len(args):  # `tmux -c CMD` runs CMD like `sh -c`
            return e.nested(args[i + 1].text, ctx, depth)
        i += 2 if args[i].text in ("-L", "-S", "-f", "-T") else 1
    if i >= len(args):
        return None
    sub, rest = args[i].text, args[i + 1 :]
    j = skip_options(rest, 0, _TMUX_VALUES)
    bg = ctx._replace(background=True)
    if sub in _TMUX_RUN:
        return e.nested(join_words(rest[j:]), bg, depth) if rest[j:] else None
    if sub in ("send-keys", "send"):
        keys = "".join(_TMUX_KEYS.get(w.text, w.text + " ") for w in rest[j:])
        return e.nested(keys, bg, depth)
    return None


SPECIAL: dict[str, Special] = {
    "eval": _eval,
    "ssh": _ssh,
    "su": _su,
    "screen": _screen,
    "tmux": _tmux,
    "script": _script,
    "source": _source,
    ".": _source,
    "trap": _trap,
    "alias": _alias,
    "at": lambda e, name, args, ctx, depth, cmd: _stdin_script(
        e, name, ctx._replace(background=True), depth, cmd
    ),
    "batch": lambda e, name, args, ctx, depth, cmd: _stdin_script(
        e, name, ctx._replace(background=True), depth, cmd
    ),
    **{shell: _shell for shell in ("bash", "sh", "zsh", "dash", "ksh", "mksh", "fish")},
}
