"""The shell lexer under `trainward.guard.parse`: words with quoting, escapes, line
continuations, parameter and command substitutions, operators, redirections and heredocs.

Words keep which of their parts came from an expansion (`$X`, `$(..)`, backticks), so
the guard can tell a value written out from one only known at run time.
"""

from __future__ import annotations

from trainward.guard.syntax import Command, Heredoc, ShellSyntaxError, Token, Word, word_set

__all__ = [
    "FILE_WRITES",
    "REDIRECTS",
    "Command",
    "Heredoc",
    "Lexer",
    "ShellSyntaxError",
    "Token",
    "Word",
    "word_set",
]


_OPERATORS = sorted(
    word_set("&& || ;;& ;; ;& |& &>> &> >> <<< <<- << <> >| >& <& ; & | ( ) < >"),
    key=len,
    reverse=True,
)
REDIRECTS = frozenset(op for op in _OPERATORS if "<" in op or ">" in op)
FILE_WRITES = frozenset({">", ">>", ">|", "&>", "&>>"})
_WORD_END = frozenset(" \t\n;&|()<>")
_ANSI_C = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b"}
_ANSI_C |= {"f": "\f", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}
_ANSI_C_NUMBERS = {"x": (16, 2), "u": (16, 4), "U": (16, 8)}  # letter: (base, most digits)


def _is_array_assignment(word: Word) -> bool:
    """`NAME=` or `NAME+=` written plainly, just before a `(`."""
    text = word.text
    name = text[:-1].removesuffix("+")
    return text.endswith("=") and name.isidentifier() and not word.quoted and not word.dynamic


def _ansi_c_escape(src: str, i: int) -> tuple[str, int]:
    """The text of the escape whose letter is at src[i] in $'...', and the index after it."""
    c = src[i]
    if c in _ANSI_C:
        return _ANSI_C[c], i + 1
    if c == "c" and i + 1 < len(src):  # \cX: control-X
        return chr(ord(src[i + 1]) & 0x1F), i + 2
    base, most = _ANSI_C_NUMBERS.get(c, (8, 3))
    start = i + 1 if c in _ANSI_C_NUMBERS else i
    digits = "01234567" if base == 8 else "0123456789abcdefABCDEF"
    end = start
    while end < len(src) and end - start < most and src[end] in digits:
        end += 1
    if end == start:
        return "\\" + c, i + 1  # not an escape: bash keeps the backslash
    return chr(min(int(src[start:end], base), 0x10FFFF)), end


class Lexer:
    """Tokens from shell source. The grammar (`trainward.guard.parse`) subclasses it: the
    lexer needs it for $( ... ), whose body is a whole command list."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.pos = 0
        self.subs: list[Command] = []  # commands inside the token being lexed
        self.pending: list[Command] = []  # ... inside tokens consumed, not yet placed
        self.late: list[Command] = []  # ... inside heredoc bodies
        self.heredocs: list[Heredoc] = []
        self._peeked: Token | None = None

    # -- tokens --------------------------------------------------------------
    def peek(self) -> Token:
        if self._peeked is None:
            saved, self.subs = self.subs, []
            tok = self._lex()
            tok.subs, self.subs = self.subs, saved
            self._peeked = tok
        return self._peeked

    def next(self) -> Token:
        tok = self.peek()
        self._peeked = None
        self.pending += tok.subs
        return tok

    def _lex(self) -> Token:
        src = self.src
        while self.pos < len(src):
            if src[self.pos] in " \t":
                self.pos += 1
            elif src.startswith("\\\n", self.pos):
                self.pos += 2
            elif src[self.pos] == "#":
                end = src.find("\n", self.pos)
                self.pos = len(src) if end < 0 else end
            else:
                break
        if self.pos >= len(src):
            return Token("eof")
        if src[self.pos] == "\n":
            self.pos += 1
            self._read_heredocs()
            return Token("newline", "\\n")
        if src.startswith("((", self.pos):
            end = self._match_parens(self.pos)
            if src[end - 2 : end] == "))":  # else it is "( (", two subshells
                self._scan_expansions(src[self.pos : end])
                self.pos = end
                return Token("arith")
        if src.startswith(("<(", ">("), self.pos):
            return Token("word", word=self._read_word())
        for op in _OPERATORS:
            if src.startswith(op, self.pos):
                self.pos += len(op)
                return Token("op", op)
        word = self._read_word()
        if not word.quoted and word.text.isdigit() and src.startswith(("<", ">"), self.pos):
            return self._lex()  # "2>": the fd number belongs to the redirection
        return Token("word", word=word)

    # -- words ---------------------------------------------------------------
    def _read_word(self) -> Word:
        word = Word()
        src = self.src
        if src.startswith(("<(", ">("), self.pos):
            start = self.pos
            self.pos += 2
            self._substitute()
            word.add(src[start : self.pos], True)
            return word
        while self.pos < len(src) and src[self.pos] not in _WORD_END:
            c = src[self.pos]
            if c == "\\":
                self._read_escape(word)
            elif c == "'":
                word.quoted = True
                end = src.find("'", self.pos + 1)
                if end < 0:
                    raise ShellSyntaxError("unterminated single quote")
                word.add(src[self.pos + 1 : end])
                self.pos = end + 1
            elif c == '"':
                word.quoted = True
                self.pos += 1
                self._read_double(word, '"')
            else:
                self._read_char(word)
        if src.startswith("(", self.pos) and _is_array_assignment(word):  # a=(x $(cmd))
            end = self._match_parens(self.pos)
            self._scan_expansions(src[self.pos + 1 : end - 1])
            word.add(src[self.pos : end])
            self.pos = end
        return word

    def _read_escape(self, word: Word) -> None:
        nxt = self.src[self.pos + 1 : self.pos + 2]
        self.pos += 2
        if nxt != "\n":
            word.quoted = True
            word.add(nxt or "\\")

    def _read_char(self, word: Word) -> None:
        c = self.src[self.pos]
        if c == "`":
            self._read_backticks(word)
        elif c == "$":
            self._read_dollar(word)
        else:
            if c in "*?[]{},":
                word.specials += c
            word.add(c)
            self.pos += 1

    def _read_double(self, word: Word, end: str | None) -> None:
        """The inside of "..." (or a heredoc body when `end` is None)."""
        src = self.src
        while True:
            if self.pos >= len(src):
                if end is None:
                    return
                raise ShellSyntaxError("unterminated double quote")
            c = src[self.pos]
            if c == end:
                self.pos += 1
                return
            if c == "\\" and src[self.pos + 1 : self.pos + 2] in ("$", "`", '"', "\\", "\n"):
                self._read_escape(word)
            elif c == "$" and src[self.pos + 1 : self.pos + 2] in ("'", '"'):
                word.add("$")  # $'..' and $".." are not special inside "..."
                self.pos += 1
            elif c in "$`":
                self._read_char(word)
            else:
                word.add(c)
                self.pos += 1

    def _read_dollar(self, word: Word) -> None:
        src, start = self.src, self.pos
        nxt = src[self.pos + 1 : self.pos + 2]
        if src.startswith("$((", self.pos):
            self.pos = self._match_parens(self.pos + 1)
            self._scan_expansions(src[start + 3 : self.pos - 2])
        elif nxt == "(":
            self.pos += 2
            self._substitute()
        elif nxt == "{":
            self.pos = self._match_braces(self.pos + 1)
            self._scan_expansions(src[start + 2 : self.pos - 1])  # ${X:-$(cmd)}
        elif nxt == "'":
            self._read_ansi_c(word)
            return
        elif nxt == '"':
            word.quoted = True
            self.pos += 2
            self._read_double(word, '"')
            return
        elif nxt and (nxt.isalnum() or nxt == "_"):
            self.pos += 1
            while self.pos < len(src) and (src[self.pos].isalnum() or src[self.pos] == "_"):
                self.pos += 1
        elif nxt and nxt in "@*#?$!-":
            self.pos += 2
        else:
            word.add("$")
            self.pos += 1
            return
        word.add(src[start : self.pos], True)

    def _read_ansi_c(self, word: Word) -> None:
        """$'...': bash's C escapes, \\x6d and \\155 and \\u006d included (all spell `m`)."""
        word.quoted = True
        src, out = self.src, []
        self.pos += 2
        while self.pos < len(src) and src[self.pos] != "'":
            if src[self.pos] == "\\" and self.pos + 1 < len(src):
                text, self.pos = _ansi_c_escape(src, self.pos + 1)
                out.append(text)
            else:
                out.append(src[self.pos])
                self.pos += 1
        if self.pos >= len(src):
            raise ShellSyntaxError("unterminated $'...' quote")
        self.pos += 1
        word.add("".join(out))

    def _read_backticks(self, word: Word) -> None:
        src, start = self.src, self.pos
        body, i = [], self.pos + 1
        while i < len(src) and src[i] != "`":
            if src[i] == "\\" and i + 1 < len(src) and src[i + 1] in "`$\\":
                i += 1
            body.append(src[i])
            i += 1
        if i >= len(src):
            raise ShellSyntaxError("unterminated backquote")
        self.pos = i + 1
        inner = type(self)("".join(body)).parse_all()
        for cmd in inner:
            cmd.captured = True
        self.subs.extend(inner)
        word.add(src[start : self.pos], True)

    def _match_parens(self, start: int) -> int:
        """Index just past the ')' closing the '(' at `start` (quotes respected)."""
        depth, i, src = 0, start, self.src
        while i < len(src):
            c = src[i]
            if c in "'\"":
                end = src.find(c, i + 1)
                if end < 0:
                    break
                i = end
            elif c == "\\":
                i += 1
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise ShellSyntaxError("unbalanced parentheses")

    def _match_braces(self, start: int) -> int:
        depth, i, src = 0, start, self.src
        while i < len(src):
            if src[i] == "\\":
                i += 1
            elif src[i] == "{":
                depth += 1
            elif src[i] == "}":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise ShellSyntaxError("unterminated ${...}")

    def parse_all(self) -> list[Command]:
        """Every simple command in the source (the grammar's job)."""
        raise NotImplementedError

    def _substitute(self) -> None:
        """Parse the body of $( ... ) in place; its commands join the current token's."""
        raise NotImplementedError

    # -- heredocs ------------------------------------------------------------
    def _read_heredocs(self) -> None:
        pending, self.heredocs = self.heredocs, []
        for doc in pending:
            body = self._heredoc_body(doc)
            doc.command.stdin_text = body
            if doc.expands:
                self.late.extend(self._expansions(body))

    def _scan_expansions(self, text: str) -> None:
        self.subs.extend(self._expansions(text))

    def _expansions(self, text: str) -> list[Command]:
        """The commands inside $(..) and backticks of text expanded like "..."."""
        inner = type(self)(text)
        inner._read_double(Word(), None)
        return inner.subs

    def _heredoc_body(self, doc: Heredoc) -> str:
        lines: list[str] = []
        src = self.src
        while self.pos < len(src):
            end = src.find("\n", self.pos)
            end = len(src) if end < 0 else end
            line = src[self.pos : end]
            self.pos = min(end + 1, len(src))
            if (line.lstrip("\t") if doc.strip_tabs else line) == doc.delimiter:
                break
            lines.append(line)
        return "\n".join(lines)
