"""``gigmarket-web [--demo] [--db FILE] [--host H] [--port P]``: serve the app with uvicorn."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from gigmarket_web.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gigmarket-web", description=__doc__)
    parser.add_argument("--db", default=None, help="the SQLite file (default: $GIGMARKET_WEB_DB)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--demo", action="store_true", help="a manual clock and the time-travel toolbar"
    )
    parser.add_argument("--tick", type=float, default=5.0, help="seconds between job runs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app(
        database=args.db,
        base_url=f"http://{args.host}:{args.port}",
        demo=args.demo,
        tick_every=args.tick,
    )
    # One worker process: the marketplace is built once, here. More processes
    # are fine on PostgreSQL; on SQLite keep one (it serializes writers anyway).
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
