"""Batch entry points: ``lifecycle demo``, ``load``, ``quality``, ``serve``, ``html``.

Examples
--------
>>> main(["--help"])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
SystemExit: 0
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from lifecycle.workspace import Workspace, default_path

__all__ = ["main"]


def _demo(args) -> None:
    start = time.perf_counter()
    ws = Workspace.demo(args.path, n_customers=args.customers, random_state=args.seed,
                        overwrite=args.overwrite, progress=True)
    counts = {name: ws.table(name).count().execute() for name in ws.tables()}
    print(f"demo workspace {ws.path} (as of {ws.as_of:%Y-%m-%d}) in "
          f"{time.perf_counter() - start:.1f} s")
    for name, n in counts.items():
        print(f"  {name:<16} {n:>12,} rows")


def _load(args) -> None:
    ws = Workspace.open(args.path, create=True)
    repairs = ws.load(args.kind, args.file, as_of=args.as_of)
    print(f"loaded {args.kind} into {ws.path}: {ws.table(args.kind).count().execute():,} rows")
    _print_repairs(repairs)


def _quality(args) -> None:
    _print_repairs(Workspace.open(args.path).quality())


def _serve(args) -> None:
    from lifecycle.ui.serve import voila_command

    folder = Path(args.dashboards)
    if not folder.is_dir():
        raise FileNotFoundError(f"no dashboards folder at {folder}")
    Workspace.open(args.path)  # fail here, clearly, when there is no workspace
    argv, env = voila_command(folder, host=args.host, port=args.port, token=args.token,
                              pool_size=args.pool_size)
    env = {**os.environ, **env}
    if args.path:
        env["LIFECYCLE_WORKSPACE"] = str(Path(args.path).resolve())
    where = f"http://{args.host}:{args.port}/" + (f"?token={args.token}" if args.token else "")
    print(f"dashboards of {env.get('LIFECYCLE_WORKSPACE', default_path())} on {where}",
          flush=True)
    raise SystemExit(subprocess.call(argv, env=env))


def _html(args) -> None:
    from lifecycle.share import export_html

    if args.path:
        os.environ["LIFECYCLE_WORKSPACE"] = str(Path(args.path).resolve())
    for notebook in args.notebooks:
        if not Path(notebook).is_file():
            raise FileNotFoundError(f"no notebook at {notebook}")
        print(f"{notebook} -> {export_html(notebook, args.out)}", flush=True)


def _print_repairs(repairs) -> None:
    shown = repairs[repairs.rows > 0]
    print(shown.to_string(index=False) if len(shown) else "no repairs")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = argparse.ArgumentParser(prog="lifecycle", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="build the demo workspace")
    demo.add_argument("--customers", type=int, default=50_000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--overwrite", action="store_true")
    demo.set_defaults(run=_demo)
    load = sub.add_parser("load", help="validate and load a CSV / Parquet file")
    load.add_argument("kind")
    load.add_argument("file")
    load.add_argument("--as-of", default=None)
    load.set_defaults(run=_load)
    quality = sub.add_parser("quality", help="print the data-quality report")
    quality.set_defaults(run=_quality)
    serve = sub.add_parser("serve", help="serve the dashboards with Voila (offline, preheated)")
    serve.add_argument("--dashboards", default="dashboards", help="folder of dashboard notebooks")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8866)
    serve.add_argument("--token", default=os.environ.get("TOKEN") or None,
                       help="require this token (open /?token=...); default $TOKEN, else none")
    serve.add_argument("--pool-size", type=int, default=1,
                       help="preheated kernels per dashboard (0: start one per page load)")
    serve.set_defaults(run=_serve)
    html = sub.add_parser("html", help="run notebooks and save them as HTML with their figures")
    html.add_argument("notebooks", nargs="+", help="notebook files, e.g. notebooks/*.ipynb")
    html.add_argument("--out", default="build/html", help="folder for the HTML files")
    html.set_defaults(run=_html)
    for p in (demo, load, quality, serve, html):
        p.add_argument("--path", default=None, help=f"workspace file (default {default_path()})")
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (FileNotFoundError, ValueError) as exc:  # DataError is a ValueError
        print(f"lifecycle {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


def _entry() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    _entry()
