"""Every layout trainward knows, in one place: its home directory and the files on a volume.

    $TRAINWARD_HOME/                       (default ~/.trainward; tests point it at tmp)
        runs.jsonl, runs.lock              the registry (runs/registry.py)
        sweeps.jsonl, sweeps.lock          started sweeps (sweep/launch.py)
        deployments.jsonl                  deployed Modal apps (runs/deploy.py)
        volumes/<volume>/                  local volumes (backends/local.py)
        local/runs/<run>/                  a local run's supervisor files
        local/sweeps/<sweep>/              a local sweep controller's files (plan, log, jobs/)
        cache/, locks/                     hash cache, push locks

    <volume>/runs/<run>/                   a run's ledger (runs/ledger.py)
        run.json status.json metrics.jsonl events.jsonl checkpoints/
        alerts/<key>.json                  alerts sent for the run (runs/alerts.py)
    <volume>/sweeps/<sweep>/               a sweep's state (sweep/controller.py)
        plan.json state.json results.json summary.md jobs/<job>.json
    <volume>/datasets/<dataset>/           the default data path

    <project>/<results_to>/<sweep>/        a sweep's results brought home (sweep/deploy.py)
        results.json summary.txt sweep.yaml plan.json

Volume paths are posix strings relative to the volume root; local paths are `Path`s.
"""

from __future__ import annotations

from pathlib import Path

from trainward.core.homedir import home_dir

# -- the home directory ------------------------------------------------------------------------


def home() -> Path:
    """The state directory: `$TRAINWARD_HOME`, default `~/.trainward`. Not created here."""
    return Path(home_dir())


def ensure_home() -> Path:
    root = home()
    root.mkdir(parents=True, exist_ok=True)
    return root


def registry_file() -> Path:
    return home() / "runs.jsonl"


def sweeps_file() -> Path:
    return home() / "sweeps.jsonl"


def sweeps_lock_file() -> Path:
    """Held while a sweep name is claimed (two starts of one sweep: exactly one wins)."""
    return home() / "sweeps.lock"


def deployments_file() -> Path:
    return home() / "deployments.jsonl"


def local_volumes_dir() -> Path:
    return home() / "volumes"


def local_runs_dir() -> Path:
    return home() / "local" / "runs"


def local_sweeps_dir() -> Path:
    return home() / "local" / "sweeps"


def cache_dir() -> Path:
    return home() / "cache"


def locks_dir() -> Path:
    return home() / "locks"


# -- on a volume --------------------------------------------------------------------------------

RUN_FILE = "run.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
EVENTS_FILE = "events.jsonl"
CHECKPOINTS_DIR = "checkpoints"


def run_path(run: str) -> str:
    """The ledger directory of a run, relative to the volume root."""
    return f"runs/{run}"


def run_file(run: str, name: str) -> str:
    """A file of a run's ledger (`run.json`, `status.json`, ...), relative to the volume root."""
    return f"{run_path(run)}/{name}"


def alert_path(run: str, key: str) -> str:
    """`runs/<run>/alerts/<key>.json`: the record of one alert (key: an event, `stale-<n>`)."""
    return f"{run_path(run)}/alerts/{key}.json"


def checkpoint_path(run: str, name: str) -> str:
    """`runs/<run>/checkpoints/<name>` (name: `latest.pt`, `best.pt`, a file or a folder)."""
    return f"{run_path(run)}/{CHECKPOINTS_DIR}/{name}"


def sweep_path(sweep: str) -> str:
    """A sweep's state directory, relative to the volume root."""
    return f"sweeps/{sweep}"


def sweep_file(sweep: str, name: str) -> str:
    """`sweeps/<sweep>/<name>` (state.json, results.json, summary.md, jobs/...)."""
    return f"{sweep_path(sweep)}/{name}"


def dataset_path(dataset: str) -> str:
    """Where a dataset lives on its volume when the experiment names no path."""
    return f"datasets/{dataset}"


def parse_checkpoint_ref(ref: str) -> tuple[str, str]:
    """`RUN`, `RUN/latest.pt`, `RUN/best.pt`, `RUN/checkpoints/X` -> (run, path on the volume).

    The one resume/checkpoint reference parser: launch, the standalone trainer and the Modal
    script all read `--resume` through it."""
    run, _, rest = ref.strip().strip("/").partition("/")
    rest = rest or "latest.pt"
    rest = rest.removeprefix(f"{CHECKPOINTS_DIR}/")
    return run, checkpoint_path(run, rest)
