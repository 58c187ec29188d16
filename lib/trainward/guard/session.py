"""What earlier commands of one command line set up for later ones, and the script files
it runs:

    cd ~/.trainward && rm -rf *               rm runs inside trainward's state
    alias m='modal run'; m train.py           m runs `modal run train.py`
    echo 'modal run x.py' > r.sh; bash r.sh   r.sh holds `modal run x.py`
    bash scripts/launch.sh                    read from disk (relative to the hook's cwd)

The engine reads commands in source order and calls `observe` after each one. Nothing is
run; a script file on disk is read (up to MAX_SCRIPT_BYTES), never executed.
"""

from __future__ import annotations

import os
import posixpath

from trainward.guard.syntax import Command, Word

MAX_SCRIPT_BYTES = 64 * 1024
_PRINTERS = frozenset({"echo", "printf"})
UNKNOWN = "unknown"  # written by this command line with content the guard cannot see
MISSING = "missing"  # not written here, and not a readable text file on disk


class Session:
    def __init__(self, cwd: str, state_dir: str) -> None:
        self.cwd = cwd  # where relative paths resolve (after the `cd`s seen so far)
        self.state_dir = state_dir
        self.in_state = False  # the last `cd` went into trainward's state
        self.aliases: dict[str, str] = {}
        self.files: dict[str, str | None] = {}  # path -> text written here (None: unknown)

    def observe(self, cmd: Command) -> None:
        """Record what `cmd` sets up for the commands after it."""
        argv = cmd.argv
        name = posixpath.basename(argv[0]) if argv else ""
        if name in ("cd", "pushd"):
            self._cd([a for a in argv[1:] if not a.startswith("-")])
        elif name == "alias":
            for arg in argv[1:]:
                alias, sep, value = arg.partition("=")
                if sep:
                    self.aliases[alias] = value
        elif name == "unalias":
            for alias in argv[1:]:
                self.aliases.pop(alias, None)
        self._record_writes(cmd, name)

    def _cd(self, args: list[str]) -> None:
        target = args[0] if args else "~"
        if target == "-" or (target.startswith("$") and "HOME" not in target):
            self.in_state = False  # cd "$X": somewhere only known at run time
            return
        self.cwd = self.resolve(target)
        inside = self.cwd == self.state_dir or self.cwd.startswith(self.state_dir + "/")
        self.in_state = inside or ".trainward" in self.cwd.split("/")

    def resolve(self, path: str) -> str:
        """`path` as an absolute path: `~` and $HOME expanded, relative to the current cwd."""
        for home in ("${HOME}", "$HOME"):
            if path == home or path.startswith(home + "/"):
                path = "~" + path[len(home) :]
        path = path.replace("${TRAINWARD_HOME}", self.state_dir, 1)
        path = path.replace("$TRAINWARD_HOME", self.state_dir, 1)
        return posixpath.normpath(posixpath.join(self.cwd, os.path.expanduser(path)))

    def _record_writes(self, cmd: Command, name: str) -> None:
        content = output_text(cmd)
        targets = [(op, path) for op, path in cmd.writes]
        if name == "tee":
            targets += [
                (">>" if "-a" in cmd.argv else ">", a) for a in cmd.argv[1:] if a[:1] != "-"
            ]
        for op, path in targets:
            key = self.resolve(path)
            old = self.files.get(key, "") if op == ">>" else ""
            self.files[key] = None if content is None or old is None else old + content

    def script_text(self, path: str) -> tuple[str, str]:
        """("text", TEXT) of the script at `path`: what this command line wrote there, else
        the file on disk; (UNKNOWN, "") when it wrote it unseen; (MISSING, "") otherwise."""
        key = self.resolve(path)
        if key in self.files:
            text = self.files[key]
            return ("text", text) if text is not None else (UNKNOWN, "")
        try:
            if os.path.getsize(key) > MAX_SCRIPT_BYTES:
                return MISSING, ""
            with open(key, "rb") as fh:
                data = fh.read(MAX_SCRIPT_BYTES)
        except OSError:
            return MISSING, ""
        if b"\0" in data:
            return MISSING, ""  # a binary program
        return "text", data.decode("utf-8", "replace")


def output_text(cmd: Command | None) -> str | None:
    """What `cmd` writes to its output, when its text says: `echo`/`printf` of literal words,
    or `cat`/`tee` (no file read) of a heredoc or here-string; None when not known."""
    name = posixpath.basename(cmd.words[0].text) if cmd is not None and cmd.words else ""
    if cmd is None or name not in (*_PRINTERS, "cat", "tee"):
        return None
    if name in _PRINTERS:
        words = [w for w in cmd.words[1:] if w.text not in ("-n", "-e", "-E")]
        return None if any(w.dynamic for w in words) else _joined(words)
    reads_file = name == "cat" and len(cmd.words) > 1
    return None if reads_file or cmd.stdin_text is None else cmd.stdin_text + "\n"


def _joined(words: list[Word]) -> str:
    return " ".join(w.text for w in words).replace("\\n", "\n") + "\n"
