"""What the shell parser produces: words (with which parts came from expansions, and which
pattern characters were unquoted), simple commands, tokens and heredocs.

Plain slotted classes, not dataclasses: the hook imports this module before every
shell command an assistant runs, and `dataclasses` (with `inspect`) would cost more than the
rest of the guard together (bench/bench_hook.py).
"""

from __future__ import annotations

from trainward.errors import ShellSyntaxError

__all__ = ["Command", "Heredoc", "ShellSyntaxError", "Token", "Word", "word_set"]


def word_set(spec: str) -> frozenset[str]:
    """frozenset of the space-separated words in `spec`."""
    return frozenset(spec.split())


class Word:
    """One shell word after quote removal. `parts` is (text, came_from_an_expansion);
    `specials` holds the pattern characters (`*?[]{},`) that appeared unquoted."""

    __slots__ = ("parts", "quoted", "specials")

    def __init__(self, parts: list[tuple[str, bool]] | None = None, quoted: bool = False) -> None:
        self.parts = parts if parts is not None else []
        self.quoted = quoted
        self.specials = ""

    def __repr__(self) -> str:
        return f"Word({self.parts!r}, quoted={self.quoted})"

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.parts)

    @property
    def dynamic(self) -> bool:
        """True when some of the word is only known at run time ($X, $(..), `..`)."""
        return any(expanded for _, expanded in self.parts)

    @property
    def glob(self) -> bool:
        """True when the shell would expand the word as a file name pattern (`mod?l`)."""
        sp = self.specials
        return "*" in sp or "?" in sp or ("[" in sp and "]" in sp)

    @property
    def brace(self) -> bool:
        """True when the word may hold a brace expansion (`{modal,run}`)."""
        return all(c in self.specials for c in "{,}")

    @classmethod
    def literal(cls, text: str) -> Word:
        return cls([(text, False)])

    def add(self, text: str, expanded: bool = False) -> None:
        """Append text; adjacent literal text joins one part."""
        if not expanded and self.parts and not self.parts[-1][1]:
            self.parts[-1] = (self.parts[-1][0] + text, False)
        else:
            self.parts.append((text, expanded))


class Command:
    """A simple command: its words (assignments included) and how it is run."""

    __slots__ = (
        "background",
        "captured",
        "pipe_source",
        "piped",
        "stdin_text",
        "words",
        "writes",
    )

    def __init__(self, words: list[Word] | None = None) -> None:
        self.words: list[Word] = words if words is not None else []
        self.background = False
        self.stdin_text: str | None = None  # a heredoc or here-string body
        self.pipe_source: Command | None = None  # the simple command piped into this one
        self.piped = False  # stdin is a pipe (pipe_source may be unknown)
        self.writes: list[tuple[str, str]] = []  # (operator, file) of each redirection out
        self.captured = False  # inside $(..) or `..`: its output becomes a word

    @property
    def writes_file(self) -> bool:
        return any(path != "/dev/null" for _, path in self.writes)

    def __repr__(self) -> str:
        return f"Command({self.argv!r}, background={self.background})"

    @property
    def argv(self) -> list[str]:
        return [w.text for w in self.words]


class Token:
    __slots__ = ("kind", "subs", "value", "word")

    def __init__(self, kind: str, value: str = "", word: Word | None = None) -> None:
        self.kind = kind  # "word", "op", "newline", "arith", "eof"
        self.value = value
        self.word = word
        self.subs: list[Command] = []  # commands inside its $(..) and `..`


class Heredoc:
    """A heredoc waiting for its body: `<<EOF` (expands) or `<<'EOF'`, `<<-` strips tabs."""

    __slots__ = ("command", "delimiter", "expands", "strip_tabs")

    def __init__(self, delimiter: str, strip_tabs: bool, expands: bool, command: Command) -> None:
        self.delimiter, self.strip_tabs = delimiter, strip_tabs
        self.expands, self.command = expands, command
