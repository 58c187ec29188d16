"""Enough of the POSIX/bash grammar to find every simple command a shell string would run.

`parse(script)` returns the simple commands in source order, flattened out of lists
(`;` `&&` `||` newlines), pipelines, subshells `( )`, groups `{ }`, `if`/`while`/`for`/
`case`, function bodies, and command substitutions (`$( )`, backticks, `<( )`), each
marked with what the guard needs: whether it runs in the background (`&`), what feeds
its stdin (a heredoc, a here-string, or the command before it in a pipe), and whether
it writes a file. Words keep which parts came from expansions (`$X`, `$(..)`), so a
caller can tell a literal from a value only known at run time.

It never executes or expands anything. Input the shell itself would reject (an
unbalanced quote or parenthesis, a missing `fi`) raises `ShellSyntaxError`.
"""

from __future__ import annotations

from trainward.guard.lex import (
    FILE_WRITES,
    REDIRECTS,
    Command,
    Heredoc,
    Lexer,
    ShellSyntaxError,
    Token,
    Word,
    word_set,
)

__all__ = ["Command", "ShellSyntaxError", "Word", "parse"]

_COMPOUND = word_set("if while until for select case function { [[")
_RESERVED = word_set("then elif else fi do done esac }")
_PIPELINE_PREFIX = word_set("! time")
_P = frozenset({"-p"})


def parse(script: str) -> list[Command]:
    """Every simple command in `script`, in source order. Raises ShellSyntaxError."""
    return _Parser(script).parse_all()


class _Parser(Lexer):
    """Recursive descent over the lexer's tokens; every method returns flat commands."""

    def parse_all(self) -> list[Command]:
        commands = self.parse_list()
        tok = self.next()
        if tok.kind != "eof":
            raise ShellSyntaxError(f"unexpected {tok.value or tok.kind!r}")
        return commands + self.pending + self.late

    def parse_list(
        self, stop_words: frozenset[str] = frozenset(), stop_ops: frozenset[str] = frozenset()
    ) -> list[Command]:
        out: list[Command] = []
        while True:
            while self.peek().kind == "newline":
                self.next()
            tok = self.peek()
            if tok.kind == "eof" or (tok.kind == "op" and tok.value in stop_ops):
                return out
            if _is_keyword(tok, stop_words):
                return out
            part = self._and_or()
            out += part
            sep = self.peek()
            if sep.kind == "op" and sep.value == "&":
                self.next()
                for cmd in part:
                    cmd.background = True
            elif sep.kind == "newline" or (sep.kind == "op" and sep.value == ";"):
                self.next()
            else:
                return out

    def _and_or(self) -> list[Command]:
        out = self._pipeline()
        while self.peek().kind == "op" and self.peek().value in ("&&", "||"):
            self.next()
            while self.peek().kind == "newline":
                self.next()
            out += self._pipeline()
        return out

    def _pipeline(self) -> list[Command]:
        while _is_keyword(self.peek(), _PIPELINE_PREFIX):  # `! cmd`, `time -p { ...; }`
            if _is_keyword(self.next(), frozenset({"time"})) and _is_keyword(self.peek(), _P):
                self.next()
        out, source = self._command()
        while self.peek().kind == "op" and self.peek().value in ("|", "|&"):
            self.next()
            while self.peek().kind == "newline":
                self.next()
            part, nxt = self._command()
            if part:
                part[0].piped = True
                part[0].pipe_source = source
            out += part
            source = nxt
        return out

    def _command(self) -> tuple[list[Command], Command | None]:
        """One command of a pipeline (with the commands in its substitutions), and the
        command itself when it is a simple command."""
        mark = len(self.pending)
        out, simple = self._command_body()
        out += self.pending[mark:]
        del self.pending[mark:]
        return out, simple

    def _command_body(self) -> tuple[list[Command], Command | None]:
        tok = self.peek()
        if tok.kind == "op" and tok.value == "(":
            self.next()
            body = self.parse_list(stop_ops=frozenset({")"}))
            self._expect_op(")")
            return self._redirects(body), None
        if tok.kind == "arith":
            self.next()
            return self._redirects([]), None
        if tok.word is not None and _is_keyword(tok, _COMPOUND | _RESERVED):
            return self._redirects(self._compound(tok.word.text)), None
        if tok.kind == "word" or (tok.kind == "op" and tok.value in REDIRECTS):
            return self._simple()
        raise ShellSyntaxError(f"unexpected {tok.value or tok.kind!r}")

    def _simple(self) -> tuple[list[Command], Command | None]:
        cmd = Command()
        while True:
            tok = self.peek()
            if tok.kind == "word" and tok.word is not None:
                self.next()
                cmd.words.append(tok.word)
                if len(cmd.words) == 1 and self._at_function_parens():
                    return self._command()[0], None
            elif tok.kind == "op" and tok.value in REDIRECTS:
                self.next()
                self._redirect(tok.value, cmd)
            else:
                return [cmd], cmd

    def _at_function_parens(self) -> bool:
        tok = self.peek()
        if tok.kind == "op" and tok.value == "(":
            self.next()
            self._expect_op(")")
            while self.peek().kind == "newline":
                self.next()
            return True
        return False

    def _redirect(self, op: str, cmd: Command) -> None:
        tok = self.next()
        if tok.kind != "word" or tok.word is None:
            raise ShellSyntaxError(f"expected a word after {op!r}")
        target = tok.word
        if op in ("<<", "<<-"):
            self.heredocs.append(Heredoc(target.text, op == "<<-", not target.quoted, cmd))
        elif op == "<<<":
            cmd.stdin_text = target.text
        elif op in FILE_WRITES or (op == ">&" and not target.text.isdigit() and target.text != "-"):
            cmd.writes.append((op, target.text))

    def _redirects(self, body: list[Command]) -> list[Command]:
        """`body` after the redirections of its compound command (`{ ...; } > f`), which
        apply to every command in it."""
        group = Command()
        while self.peek().kind == "op" and self.peek().value in REDIRECTS:
            self._redirect(self.next().value, group)
        for cmd in body:
            cmd.writes += group.writes
        return body

    def _compound(self, keyword: str) -> list[Command]:
        self.next()
        if keyword == "{":
            body = self.parse_list(stop_words=frozenset({"}"}))
            self._expect_word("}")
            return body
        if keyword == "if":
            return self._if()
        if keyword in ("while", "until"):
            cond = self.parse_list(stop_words=frozenset({"do"}))
            return cond + self._do_done()
        if keyword in ("for", "select"):
            return self._for()
        if keyword == "case":
            return self._case()
        if keyword == "function":
            self._word()
            self._at_function_parens()
            while self.peek().kind == "newline":
                self.next()
            return self._command()[0]
        if keyword == "[[":
            return self._test_expression()
        raise ShellSyntaxError(f"unexpected {keyword!r}")

    def _if(self) -> list[Command]:
        out = self.parse_list(stop_words=frozenset({"then"}))
        self._expect_word("then")
        out += self.parse_list(stop_words=frozenset({"elif", "else", "fi"}))
        while True:
            tok = self._word()
            if tok == "fi":
                return out
            if tok == "elif":
                out += self.parse_list(stop_words=frozenset({"then"}))
                self._expect_word("then")
                out += self.parse_list(stop_words=frozenset({"elif", "else", "fi"}))
            elif tok == "else":
                out += self.parse_list(stop_words=frozenset({"fi"}))
            else:
                raise ShellSyntaxError(f"expected 'fi', got {tok!r}")

    def _for(self) -> list[Command]:
        if self.peek().kind == "arith":
            self.next()
        else:
            self._word()
            while self.peek().kind == "newline":
                self.next()
            if _is_keyword(self.peek(), frozenset({"in"})):
                self.next()
                while self.peek().kind == "word":
                    self.next()
        if self.peek().kind == "newline" or (self.peek().kind == "op" and self.peek().value == ";"):
            self.next()
        return self._do_done()

    def _do_done(self) -> list[Command]:
        while self.peek().kind == "newline":
            self.next()
        self._expect_word("do")
        body = self.parse_list(stop_words=frozenset({"done"}))
        self._expect_word("done")
        return body

    def _case(self) -> list[Command]:
        self._word()
        while self.peek().kind == "newline":
            self.next()
        self._expect_word("in")
        out: list[Command] = []
        ends = frozenset({";;", ";&", ";;&"})
        while True:
            while self.peek().kind == "newline":
                self.next()
            if _is_keyword(self.peek(), frozenset({"esac"})):
                self.next()
                return out
            tok = self.next()
            while not (tok.kind == "op" and tok.value == ")"):
                if tok.kind in ("eof", "newline"):
                    raise ShellSyntaxError("unterminated case pattern")
                tok = self.next()
            out += self.parse_list(stop_words=frozenset({"esac"}), stop_ops=ends)
            if self.peek().kind == "op" and self.peek().value in ends:
                self.next()

    def _test_expression(self) -> list[Command]:
        cmd = Command(words=[Word.literal("[[")])
        while not _is_keyword(self.peek(), frozenset({"]]"})):
            tok = self.next()
            if tok.kind in ("eof", "newline"):
                raise ShellSyntaxError("unterminated [[ ... ]]")
            if tok.word is not None:
                cmd.words.append(tok.word)
        self.next()
        return [cmd]

    def _substitute(self) -> None:
        saved_peek, self._peeked = self._peeked, None
        saved_subs, saved_pending = self.subs, self.pending
        self.pending = []
        body = self.parse_list(stop_ops=frozenset({")"}))
        self._expect_op(")")
        for cmd in (*body, *self.pending):
            cmd.captured = True  # its output becomes a word (or a file), not the transcript
        self.subs = saved_subs + body + self.pending
        self.pending = saved_pending
        self._peeked = saved_peek

    def _word(self) -> str:
        tok = self.next()
        if tok.kind != "word" or tok.word is None:
            raise ShellSyntaxError(f"expected a word, got {tok.value or tok.kind!r}")
        return tok.word.text

    def _expect_word(self, keyword: str) -> None:
        tok = self.next()
        if not _is_keyword(tok, frozenset({keyword})):
            raise ShellSyntaxError(f"expected {keyword!r}, got {tok.value or tok.kind!r}")

    def _expect_op(self, op: str) -> None:
        tok = self.next()
        if tok.kind != "op" or tok.value != op:
            raise ShellSyntaxError(f"expected {op!r}, got {tok.value or tok.kind!r}")


def _is_keyword(tok: Token, words: frozenset[str]) -> bool:
    word = tok.word
    return tok.kind == "word" and word is not None and not word.quoted and word.text in words
