"""The exception tree. The library raises these; the CLI edge maps them to exit codes once.

    TrainwardError                 exit 1  something failed that we did not expect
    ├── IntegrityError             exit 1  a checksum, size or file-format check failed
    ├── RunFailed                  exit 1  the run itself ended in failure
    │   └── ValidationFailed       exit 1  a sweep's validation slice failed (crashed, bad result, timed out)
    ├── UsageError                 exit 2  bad arguments or configuration
    │   ├── ConfigError            exit 2  an experiment or sweep file is malformed
    │   └── ConfigMismatch         exit 2  resume with a config that differs from the checkpoint's
    ├── Refused                    exit 3  a guard or a budget refused the action
    ├── NotFound                   exit 4  a run, volume, checkpoint or file does not exist
    │   └── RunNotFound            exit 4
    └── RemoteUnavailable          exit 5  Modal or W&B unreachable, or not authenticated
        └── AuthError              exit 5

Every error carries a message (what failed, with the offending value) and a hint (the next
step). Neither may contain a secret's value: build them from names, never from env values.
"""

from __future__ import annotations

from typing import Any, ClassVar

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_NOT_FOUND = 4
EXIT_REMOTE = 5


class TrainwardError(Exception):
    """Base class. `exit_code` is what the CLI exits with; `hint` is the next step."""

    exit_code: ClassVar[int] = EXIT_UNEXPECTED
    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.kind,
            "message": self.message,
            "exit_code": self.exit_code,
        }
        if self.hint:
            out["hint"] = self.hint
        if self.details:
            out["details"] = self.details
        return out

    def __str__(self) -> str:
        return self.message


class IntegrityError(TrainwardError):
    kind = "integrity"


class ContractError(IntegrityError):
    """A document (registry line, status.json, worker spec) does not have its contract's shape."""

    kind = "contract"


class ManifestError(IntegrityError):
    """A data manifest is malformed or names a path outside its dataset."""

    kind = "manifest"


class CheckpointWriteError(TrainwardError):
    """A checkpoint could not be written (a full disk, a read-only volume); earlier ones are intact."""

    kind = "checkpoint-write"


class RunFailed(TrainwardError):
    kind = "run-failed"


class CommandFailed(RunFailed):
    """A command entrypoint exited non-zero. `code` is its exit status; the message ends with
    the program's last output lines (the reason a person would look for)."""

    kind = "command-failed"

    def __init__(self, code: int, argv: list[str], *, last_output: str = "") -> None:
        program = argv[0].rsplit("/", 1)[-1] if argv else "the program"
        tail = f"; last output: {last_output}" if last_output else ""
        super().__init__(f"{program} exited with {code}{tail}")
        self.code = code


class ValidationFailed(RunFailed):
    """A sweep's validation job failed: its program crashed, timed out or wrote no valid result."""

    kind = "validation-failed"


class UsageError(TrainwardError):
    exit_code = EXIT_USAGE
    kind = "usage"


class ConfigError(UsageError):
    """A malformed config. `where` is `file:line` (or just the file) and `key` the dotted key."""

    kind = "config"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = file or "<config>"
        if line is not None:
            where = f"{where}:{line}"
        prefix = f"{where}: "
        if key:
            prefix += f"{key}: "
        super().__init__(prefix + message, hint=hint)
        self.reason = message
        self.file = file
        self.line = line
        self.key = key

    def located(self, file: str, lines: dict[tuple[str, ...], int] | None = None) -> ConfigError:
        """The same error, placed in `file` (and at the key's line when `lines` knows it)."""
        line = self.line
        if line is None and lines is not None and self.key:
            parts = tuple(self.key.split("."))
            while parts and parts not in lines:
                parts = parts[:-1]
            line = lines.get(parts) if parts else None
        return ConfigError(self.reason, file=file, line=line, key=self.key, hint=self.hint)


class ConfigMismatch(UsageError):
    kind = "config-mismatch"


class RunExists(UsageError):
    """A run (or sweep) of that name exists, or is being launched right now."""

    kind = "run-exists"


class Refused(TrainwardError):
    exit_code = EXIT_REFUSED
    kind = "refused"


class NotFound(TrainwardError):
    exit_code = EXIT_NOT_FOUND
    kind = "not-found"


class RunNotFound(NotFound):
    kind = "run-not-found"


class RemoteUnavailable(TrainwardError):
    exit_code = EXIT_REMOTE
    kind = "remote-unavailable"


class AuthError(RemoteUnavailable):
    kind = "auth"


class ShellSyntaxError(ValueError):
    """The guard was given a string that is not valid shell (the shell would refuse it too);
    the guard answers "ask" for it rather than guessing."""


class Cancelled(Exception):
    """Internal: the caller gave up on a bounded remote check; stop before the next request.
    Never leaves the library (the caller has already raised RemoteUnavailable)."""
