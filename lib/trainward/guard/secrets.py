"""Secrets that a command would put into the transcript (and the shell history): a token
variable printed (`echo $WANDB_API_KEY`), every variable printed (`env`, `printenv`), a
token file printed (`cat ~/.netrc`, `cat .env`), or a token written out on the command
line (`export HF_TOKEN=hf_...`, `--token-secret as-...`, `Authorization: Bearer ...`).

Each check answers "ask" with a reason that names the variable, file or option, never the
value. A secret used without being printed stays allowed: `modal secret create wandb
WANDB_API_KEY="$WANDB_API_KEY"`, `HF_TOKEN=$(cat ~/.hf_token) python x.py`.
"""

from __future__ import annotations

import posixpath
import re

from trainward.guard.rules import Decision, ask, word_set
from trainward.guard.syntax import Word

_SECRET_PARTS = word_set("KEY TOKEN SECRET PASSWORD PASSWD PAT CREDENTIALS APIKEY")
_SECRET_FILES = word_set(
    ".env .netrc _netrc .modal.toml .pypirc .git-credentials .hf_token credentials id_rsa "
    "id_ed25519 id_ecdsa"
)
_EXAMPLE_SUFFIXES = (".example", ".sample", ".template", ".dist")
_PRINTERS = word_set("echo printf")
_FILE_PRINTERS = word_set(
    "cat head tail less more grep egrep fgrep rg ag jq yq base64 xxd od hexdump strings awk "
    "sed cut sort uniq nl tac column bat diff paste fold"
)
_DUMPS = {"env": 1, "printenv": 0, "set": 0, "export": 1, "declare": 1, "typeset": 1}
_DUMP_FLAGS = frozenset({"-p", "-x", "-px", "-xp", "-0", "--null"})  # still print every value
_SECRET_OPTIONS = (  # an option whose name ends so takes a secret value
    "token",
    "token-id",
    "token-secret",
    "api-key",
    "api_key",
    "apikey",
    "password",
    "passwd",
    "secret-key",
    "client-secret",
    "access-key",
)
_TOKEN_PREFIXES = ("hf_", "sk-", "gh", "xox", "ak-", "as-", "AKIA")
_TOKEN_SHAPES = (  # compiled by `re` on first use, only for text with a prefix above
    r"(?<![A-Za-z0-9])(hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|xox[abpr]-[A-Za-z0-9-]{10,}|a[ks]-[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16})"
)
_VAR = r"\$\{?#?([A-Za-z_][A-Za-z0-9_]*)(\}|:?[-=?+]?)"
_ADVICE = (
    'use it without printing it: `[ -n "$NAME" ] && echo set`, `modal secret create NAME '
    '--from-dotenv .env`, or KEY="$KEY" from the environment'
)


def is_secret_name(name: str) -> bool:
    """A variable whose name says it holds a secret: WANDB_API_KEY, HF_TOKEN, ..._SECRET."""
    return any(part in _SECRET_PARTS for part in name.upper().split("_"))


def is_secret_file(path: str) -> bool:
    base = posixpath.basename(path.rstrip("/"))
    if base.endswith(_EXAMPLE_SUFFIXES):
        return False
    hub_token = base == "token" and "huggingface" in path
    return base in _SECRET_FILES or base.startswith(".env.") or hub_token or base.endswith(".pem")


def check(name: str, words: list[Word], in_file: bool, captured: bool) -> Decision | None:
    """The secret a command `name WORDS...` would show, if any. `in_file`: the command
    comes from a script file, not the transcript (its written-out values are not shown);
    `captured`: its output becomes a word (`K=$(cat ~/.hf_token)`), not the transcript."""
    if captured:
        return None if in_file else written_out(name, words[1:])
    args = words[1:]
    texts = [w.text for w in args]
    if name in _DUMPS and len(texts) <= _DUMPS[name] and set(texts) <= _DUMP_FLAGS:
        return _leak(f"{name} prints every environment variable (secrets included)")
    if name == "printenv" and any(is_secret_name(t) for t in texts):
        return _leak(f"printenv prints the secret {next(t for t in texts if is_secret_name(t))}")
    if name in _PRINTERS:
        shown = next((v for w in args for v in _printed_vars(w)), None)
        if shown:
            return _leak(f"{name} prints {shown}")
    if name in _FILE_PRINTERS:
        file = next((t for t in texts if is_secret_file(t)), None)
        if file and not (name == "sed" and "-i" in texts):
            return _leak(f"{name} prints {file}, which holds secrets")
    return None if in_file else written_out(name, args)


def written_out(name: str, args: list[Word]) -> Decision | None:
    """A secret's value typed into the command line: `NAME=VALUE` for a secret NAME, a
    `--token VALUE` option, `wandb login KEY`, a bearer header, or a token's known shape."""
    for i, word in enumerate(args):
        key = literal_key(word)
        if key and is_secret_name(key):
            return _typed(f"the value of {key}")
        option = word.text.split("=", 1)[0].lower()
        if word.text.startswith("--") and option.endswith(_SECRET_OPTIONS):
            value = word if "=" in word.text else (args[i + 1] if i + 1 < len(args) else None)
            if value is not None and _literal_value(value, "=" in word.text):
                return _typed(f"the value of {option}")
        literal = "".join(t for t, expanded in word.parts if not expanded)
        if _looks_like_token(literal) or _bearer(literal):
            return _typed("what looks like a token")
    if name == "wandb" and [w.text for w in args[:1]] == ["login"] and len(args) > 1:
        last = args[-1]
        if not last.text.startswith("-") and _literal_value(last, False):
            return _typed("a W&B API key")
    return None


def _printed_vars(word: Word) -> list[str]:
    """Secret variables whose value `word` would show: `$HF_TOKEN`, `${HF_TOKEN}`, or a
    substitution that prints one (`$(cat .env)`); not `${#HF_TOKEN}` or `${HF_TOKEN:+set}`."""
    out = []
    for text, expanded in word.parts:
        if not expanded:
            continue
        if text.startswith(("$(", "`")):
            out += [f for f in re.split(r"[\s;|&()`'\"<>]+", text) if is_secret_file(f)]
        for var, tail in re.findall(_VAR, text):
            harmless = text.startswith("${#") or tail.endswith("+")
            if is_secret_name(var) and not harmless:
                out.append(f"${var}")
    return out


def literal_key(word: Word) -> str | None:
    """NAME of a `NAME=VALUE` word whose VALUE is partly written out (not only $X)."""
    if not word.parts or word.parts[0][1] or "=" not in word.parts[0][0]:
        return None
    key, _, head = word.parts[0][0].partition("=")
    written = bool(head) or any(t and not e for t, e in word.parts[1:])
    return key if key.isidentifier() and written else None


def _literal_value(word: Word, after_equals: bool) -> bool:
    text = word.text.split("=", 1)[1] if after_equals else word.text
    return bool(text) and not word.dynamic and not text.startswith("-")


def _looks_like_token(text: str) -> bool:
    return any(p in text for p in _TOKEN_PREFIXES) and re.search(_TOKEN_SHAPES, text) is not None


def _bearer(text: str) -> bool:
    lowered = text.lower()
    for marker in ("bearer ", "authorization: token ", "authorization: basic "):
        at = lowered.find(marker)
        if at >= 0 and text[at + len(marker) :].strip():
            return True
    return False


def _leak(what: str) -> Decision:
    return ask("other", f"{what} into the transcript", _ADVICE)


def _typed(what: str) -> Decision:
    return ask(
        "other",
        f"the command line holds {what}: it would stay in the transcript and shell history",
        _ADVICE,
    )
