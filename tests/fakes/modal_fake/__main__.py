"""``python -m tests.fakes.modal_fake --state-dir DIR [--port 0] [--http-port 0]``

Prints one line, ``READY grpc=http://127.0.0.1:P1 http=http://127.0.0.1:P2``, once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

SUPPORTED_MODAL = "1.6."


def _check_modal_version() -> None:
    try:
        import modal
    except ImportError:
        sys.exit("modal_fake: the `modal` package is not installed (this fake serves modal 1.6.x)")
    if not modal.__version__.startswith(SUPPORTED_MODAL):
        sys.exit(
            f"modal_fake: written against modal {SUPPORTED_MODAL}x, found {modal.__version__}. "
            "Its gRPC API changes between releases: re-check the fake (README.md) before "
            "changing the pinned version."
        )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tests.fakes.modal_fake",
        description="Serve a fake of Modal's control plane to the real modal 1.6 client.",
    )
    p.add_argument(
        "--state-dir", type=Path, required=True, help="where volumes, apps and logs live"
    )
    p.add_argument("--port", type=int, default=0, help="gRPC port (0: any free port)")
    p.add_argument("--http-port", type=int, default=0, help="HTTP port (0: any free port)")
    p.add_argument("--token-id", default="ak-modal-fake")
    p.add_argument("--token-secret", default="as-modal-fake")
    p.add_argument("--environment", default="main", help="name of the default environment")
    p.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=40.0,
        help="seconds without client heartbeat before an ephemeral app is stopped",
    )
    p.add_argument("--max-containers", type=int, default=8, help="containers run at once")
    p.add_argument(
        "--default-volume-version",
        type=int,
        choices=(1, 2),
        default=None,
        help="VolumeFS version of new volumes unless the client asks (default 2)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    _check_modal_version()
    from .context import Settings
    from .server import serve

    settings = Settings(
        state_dir=args.state_dir.resolve(),
        grpc_port=args.port,
        http_port=args.http_port,
        token_id=args.token_id,
        token_secret=args.token_secret,
        environment=args.environment,
        heartbeat_timeout_s=args.heartbeat_timeout,
        max_containers=args.max_containers,
        default_volume_version=args.default_volume_version,
    )
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
