"""What bash would expand in a word before running it, as far as the guard must see it.

    {modal,run,x.py}         -> modal run x.py        (brace expansion: several words)
    modal${IFS}run${IFS}x.py -> modal run x.py        (a guess: expansions as spaces)

The parser keeps words as written; the engine asks here when a word holds an unquoted
`{a,b}` or when the command name is partly an expansion. Nothing is ever run.
"""

from __future__ import annotations

from itertools import pairwise

from trainward.guard.syntax import Word

MAX_WORDS = 256  # more words from braces than this: the engine answers "ask"
MAX_LENGTH = 1024  # a longer word with braces is not expanded: the engine answers "ask"


def braces(words: list[Word]) -> list[Word] | None:
    """`words` with each literal word holding `{a,b,...}` replaced by its expansions, as
    bash does (`x{a,b}y` -> `xay xby`, nested too; empty results dropped); None past
    MAX_WORDS words or for a word longer than MAX_LENGTH."""
    out: list[Word] = []
    for word in words:
        if not word.brace or word.dynamic:
            out.append(word)
            continue
        texts = _expand(word.text) if len(word.text) <= MAX_LENGTH else None
        if texts is None or len(out) + len(texts) > MAX_WORDS:
            return None
        out += [Word.literal(text) for text in texts if text]
    return out


def _expand(text: str) -> list[str] | None:
    found = _alternatives(text)
    if found is None:
        return [text]
    start, end, options = found
    out: list[str] = []
    for option in options:
        more = _expand(text[:start] + option + text[end:])
        if more is None or len(out) + len(more) > MAX_WORDS:
            return None
        out += more
    return out


def _alternatives(text: str) -> tuple[int, int, list[str]] | None:
    """(start, end, options) of the leftmost `{...}` with a comma at its own level, in one
    pass: a stack of open braces, each with the commas seen at its level."""
    stack: list[list[int]] = []
    best: tuple[int, int, list[int]] | None = None
    for i, ch in enumerate(text):
        if ch == "{":
            stack.append([i])
        elif ch == "," and stack:
            stack[-1].append(i)
        elif ch == "}" and stack:
            cuts = stack.pop()
            if len(cuts) > 1 and (best is None or cuts[0] < best[0]):
                best = (cuts[0], i, cuts)
    if best is None:
        return None
    start, close, cuts = best
    bounds = [*cuts, close]
    return start, close + 1, [text[a + 1 : b] for a, b in pairwise(bounds)]


def split_guess(words: list[Word]) -> list[str]:
    """The words bash might run when the command name is partly an expansion, guessing
    each expansion is a space (`${IFS}`) or empty: `modal${IFS}run` -> [modal, run];
    `$VENV/bin/modal run` -> [/bin/modal, run]."""
    head = "".join(" " if expanded else text for text, expanded in words[0].parts).split()
    return [*head, *(w.text for w in words[1:])]
