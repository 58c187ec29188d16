"""Run the fake W&B server: `python -m tests.fakes.wandb_fake [--host 127.0.0.1] [--port 0]`.

Prints `READY http://127.0.0.1:PORT` on stdout once it is listening, then serves until
killed (SIGTERM or SIGINT).
"""

from __future__ import annotations

import argparse
import signal
import sys

from .server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.wandb_fake", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    server = serve(args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"READY {server.state.base_url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
