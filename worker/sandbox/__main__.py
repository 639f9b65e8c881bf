"""`python -m worker.sandbox [--host H] [--port P] [--boards N]`: run a seeded sandbox."""

from __future__ import annotations

import argparse

from worker.sandbox.server import serve_forever


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m worker.sandbox", description="Run a local Trello-compatible sandbox."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--boards", type=int, default=1)
    args = parser.parse_args(argv)
    serve_forever(args.host, args.port, boards=args.boards)


if __name__ == "__main__":
    main()
