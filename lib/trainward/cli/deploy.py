"""`trainward deploy`: publish the Modal training app once; `launch --deployed` then spawns from it."""

from __future__ import annotations

import click

from trainward.backends.modal import ModalBackend, declaration_for
from trainward.cli._common import emit, json_option, note
from trainward.cli.runs import experiment_options, load_with_overrides
from trainward.runs import deploy as deploy_lib
from trainward.runs.launch import git_sha


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@experiment_options
@click.option("--app", "app", help="Name of the deployed app (default trainward-EXPERIMENT).")
@click.option(
    "--web",
    is_flag=True,
    help="Also serve a launch endpoint (HTTP POST; Modal proxy auth required).",
)
@click.option("--dry-run", is_flag=True, help="Print what would be deployed; deploy nothing.")
@json_option
def deploy(
    config: str,
    epochs: int | None,
    max_games: int | None,
    sets: tuple[str, ...],
    backend: str | None,
    app: str | None,
    web: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Publish CONFIG's Modal app persistently, so launches and sweeps skip the image build.

    The deployment fixes GPU, timeout, retries, volume, secrets and the code; redeploy
    after changing any of them. Hyperparameters are per launch and need no redeploy.
    """
    exp, _ = load_with_overrides(config, epochs, max_games, sets, "modal")
    name = app or deploy_lib.default_app(exp)
    decl = declaration_for(exp.to_dict(), code_dir=str(exp.code_path), app=name, web=web)
    watch_s = deploy_lib.watch_seconds(exp)
    if dry_run:
        return emit(
            {"dry_run": True, "app": name, "declaration": decl, "watch_s": watch_s},
            as_json,
            f"would deploy {name}: {decl}; stale-run check every {watch_s or '-'} s",
        )
    note(f"deploying {name} (image build on first deploy can take minutes)")
    with deploy_lib.watch_declared(exp):
        result = ModalBackend().deploy(
            exp.to_dict(), code_dir=str(exp.code_path), app=name, web=web
        )
    rec = deploy_lib.record(
        {**result, "watch_s": watch_s}, experiment=exp.name, git_sha=git_sha(exp.root)
    )
    emit(
        rec,
        as_json,
        f"deployed {name} ({rec['app_id']}); launch from it with: trainward launch {config} --deployed",
    )
