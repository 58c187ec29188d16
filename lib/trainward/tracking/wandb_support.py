"""What the W&B reader and logger share: credentials, a deadline around wandb calls, and errors.

wandb-core retries 429 and 5xx for minutes and cannot be interrupted, so every wandb call
runs under `run_with_deadline`; `classify_error` turns what wandb raises into our
RemoteUnavailable/AuthError, and `redact` keeps API keys out of every message.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from trainward.errors import AuthError, Cancelled, RemoteUnavailable, TrainwardError

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.wandb.ai"
KEY_HINT = "run `wandb login`, or set WANDB_API_KEY to a key for this W&B host"


def default_base_url() -> str:
    from wandb import env
    from wandb.sdk import wandb_setup

    return str(env.get_base_url(wandb_setup.singleton().settings.base_url) or DEFAULT_BASE_URL)


def resolve_api_key(base_url: str, api_key: str | None = None) -> str | None:
    """The key to use for `base_url`, from the argument, WANDB_API_KEY, .netrc or wandb's settings.

    Returns None when wandb will authenticate with an identity token file instead. Raises
    AuthError, without any network I/O, when there are no credentials or the key is malformed.
    """
    from wandb.errors import AuthenticationError
    from wandb.sdk.lib import wbauth

    try:
        if api_key:
            return str(wbauth.AuthApiKey(host=base_url, api_key=api_key).api_key)
        auth = wbauth.authenticate_session(
            host=base_url, source="trainward", prompt=False, update_session=False
        )
    except AuthenticationError as e:
        raise AuthError(
            f"the W&B credentials for {base_url} are not valid: {redact(str(e), api_key)}",
            hint=KEY_HINT,
        ) from None
    if auth is None:
        raise AuthError(f"no W&B API key found for {base_url}", hint=KEY_HINT)
    return str(auth.api_key) if isinstance(auth, wbauth.AuthApiKey) else None


def redact(text: str, *secrets: str | None) -> str:
    for secret in (*secrets, os.environ.get("WANDB_API_KEY")):
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def stop_if(cancelled: threading.Event) -> None:
    if cancelled.is_set():
        raise Cancelled


def run_with_deadline(
    work: Callable[[threading.Event], T],
    seconds: float,
    *,
    on_timeout: Callable[[], Exception],
    classify: Callable[[Exception], Exception] = lambda e: e,
) -> T:
    """Run `work` in a daemon thread; raise `on_timeout()` if it is not done within `seconds`.

    wandb-core cannot be interrupted, so a late worker is left to end on its own (its
    requests are bounded too); `work` gets an Event that is set when the caller gave up.
    """
    box: dict[str, Any] = {}
    done, cancelled = threading.Event(), threading.Event()

    def target() -> None:
        try:
            box["value"] = work(cancelled)
        except BaseException as e:  # reported to the caller, never left to the thread
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=target, name="trainward-wandb", daemon=True).start()
    if not done.wait(seconds):
        cancelled.set()
        raise on_timeout()
    if "error" in box:
        err = box["error"]
        if isinstance(err, TrainwardError) or not isinstance(err, Exception):
            raise err
        raise classify(err) from err
    return box["value"]


def no_answer(base_url: str, what: str, timeout: float) -> RemoteUnavailable:
    """The check ran out of time: wandb-core retries 429 and 5xx without saying so, so one
    plain request (a few seconds, on this failure path only) tells the cause apart."""
    cause, hint = diagnose(base_url)
    return RemoteUnavailable(
        f"W&B at {base_url} did not answer the check of {what} within {timeout:g}s: {cause}",
        hint=hint,
    )


def diagnose(base_url: str, timeout: float = 3.0) -> tuple[str, str]:
    """(what is wrong, the next step) from one bare HTTP request to W&B's API."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        f"{base_url.rstrip('/')}/graphql", data=b'{"query":"{ viewer { id } }"}', method="POST"
    )
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return (
                f"it answers (HTTP {resp.status}) but the check was slower",
                "retry; allow a longer --wandb-timeout",
            )
    except urllib.error.HTTPError as err:
        if err.code == 429:
            return "it is rate-limiting (HTTP 429)", "wait a minute, then poll less often"
        if err.code >= 500:
            return f"it is failing (HTTP {err.code})", "W&B may be degraded; retry later"
        return f"it answers HTTP {err.code}", "check WANDB_BASE_URL and the API key"
    except urllib.error.URLError as err:
        return _unreachable(err.reason)
    except OSError as err:
        return _unreachable(err)


def _unreachable(reason: object) -> tuple[str, str]:
    if isinstance(reason, ConnectionRefusedError):
        return (
            "the connection was refused (nothing listens there)",
            "check WANDB_BASE_URL and that W&B is up",
        )
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return "it accepts connections but does not answer (hanging)", "retry in a minute"
    if isinstance(reason, ConnectionError):
        return (
            "it closed the connection without an answer",
            "W&B may be down or restarting; retry later",
        )
    return (
        f"it cannot be reached ({redact(str(reason))[:120]})",
        "check the network and WANDB_BASE_URL",
    )


def _http_status(exc: BaseException) -> int | None:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        status = getattr(getattr(e, "response", None), "http_status", None)
        if isinstance(status, int) and status:
            return status
        inner = getattr(e, "exc", None)
        todo += [e.__cause__, e.__context__, inner if isinstance(inner, BaseException) else None]
    return None


def classify_error(exc: Exception, base_url: str) -> Exception:
    """A wandb exception as our RemoteUnavailable/AuthError; anything else is left as it is."""
    if not type(exc).__module__.startswith("wandb") and not isinstance(exc, OSError):
        return exc
    status = _http_status(exc)
    detail = first_line(exc)
    if status in (401, 403):
        return AuthError(f"W&B at {base_url} rejected the API key (HTTP {status})", hint=KEY_HINT)
    if status == 429:
        message, hint = "is rate-limiting (HTTP 429)", "wait a minute, then poll less often"
    elif status and status >= 500:
        message, hint = f"failed (HTTP {status}): {detail}", "W&B may be degraded; retry later"
    elif status:
        message = f"answered HTTP {status}: {detail}"
        hint = "check WANDB_BASE_URL: it must be the API host (e.g. https://api.wandb.ai)"
    else:
        message, hint = f"failed: {detail}", "check the network and WANDB_BASE_URL; retry later"
    return RemoteUnavailable(f"W&B at {base_url} {message}", hint=hint)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact(text[0] if text else type(exc).__name__)[:300]
