"""Batch entry points: ``lifecycle demo``, ``load``, ``quality``, ``run``, ``prioritize``,
``health``, ``serve``, ``html``.

Every failure is one line on stderr and a non-zero exit code (2 for a wrong command line, 3
when another ``lifecycle run`` of the workspace is under way).

Examples
--------
>>> main(["quality", "--path", "no/such/workspace.duckdb"])  # the reason goes to stderr
1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import traceback
from contextlib import nullcontext
from pathlib import Path

import duckdb
import pandas as pd

from lifecycle.programs import PROGRAMS, RunInProgress
from lifecycle.schema import TABLES, DataError
from lifecycle.workspace import Workspace, _check_readable, _created, default_path

__all__ = ["main"]

_DEMO_SOURCE = "lifecycle.synthetic"


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
    path = _load_target(args.path)
    if not any(ch in args.file for ch in "*?["):
        _check_readable(Path(args.file))  # before a new workspace file is made for it
    # An existing workspace: a failed load commits nothing, the file stays byte for byte as it
    # was, and its lock file stays: it was not made by this command, and writers (of other
    # library versions too, which do not check that the lock file they waited on is still
    # there) may be waiting on it. A workspace this command makes: nothing of it stays.
    opened = nullcontext(Workspace.open(path)) if path.exists() else _created(path)
    with opened as ws:
        repairs = ws.load(args.kind, args.file, as_of=args.as_of, columns=args.columns)
    print(f"loaded {args.kind} into {ws.path}: {ws.table(args.kind).count().execute():,} rows")
    _print_repairs(repairs)


def _load_target(path: str | None) -> Path:
    """The workspace file ``load`` writes to: never the demo workspace unless named."""
    if path:
        return Path(path)
    target = default_path()
    named = bool(os.environ.get("LIFECYCLE_WORKSPACE"))
    if named and not (target.exists() and
                      Workspace.open(target).meta().get("source") == _DEMO_SOURCE):
        return target
    raise ValueError(f"name the workspace file to load into with --path FILE (it is created "
                     f"if missing); without --path, load would write into the demo workspace "
                     f"{target}")


def _quality(args) -> None:
    _print_repairs(Workspace.open(args.path).quality())


def _run(args) -> None:
    from lifecycle.programs import run

    done = run(Workspace.open(args.path), args.program, as_of=args.as_of, out=args.out,
               dry_run=args.dry_run, format=args.format, progress=True)
    verb = "would contact" if args.dry_run else "exported"
    for row in done.itertuples():
        count = row.selected - row.control if args.dry_run else row.exported
        where = "" if args.dry_run else f" -> {row.file}"
        print(f"{row.program} ({row.channel}): {verb} {count:,} customers, {row.control:,} "
              f"held out as control{where}")


def _prioritize(args) -> None:
    from lifecycle import prioritize

    ws = Workspace.open(args.path)
    day = pd.Timestamp(args.as_of)
    plan = prioritize.plan(ws, args.group, as_of=day, mode=args.mode,
                           objective=args.objective)
    a = plan.allocation
    mode = "optimizing" if args.mode == "optimal" else "priority"
    print(f"{args.group} on {day:%Y-%m-%d}, {mode} mode: {a.status}; run {plan.run_id}")
    if a.status == "infeasible":
        for row in a.log.itertuples():
            print(f"  {row.message}", file=sys.stderr)
        raise ValueError("infeasible: a mandatory cell cannot reach every eligible "
                         "recipient (above); nothing was allocated")
    counts, money = a.counts, ws.currency or "money"
    print(f"  {'cell':<28}{'eligible':>10}{'selected':>10}{'cost ' + money:>12}"
          f"{'value ' + money:>13}")
    for row in counts.itertuples():
        print(f"  {row.cell_id:<28}{row.eligible:>10,}{row.selected:>10,}{row.cost:>12,.2f}"
              f"{row.expected_value:>13,.2f}")
    print(f"  {'total':<28}{counts.eligible.sum():>10,}{counts.selected.sum():>10,}"
          f"{counts.cost.sum():>12,.2f}{counts.expected_value.sum():>13,.2f}")
    if plan.baseline is not None:
        print(f"  {args.objective} {a.objective:,.2f} (bound {a.bound:,.2f}); the priority "
              f"mode: {plan.baseline.objective:,.2f}, so optimizing gains {plan.gain:+.1%}")
        binding = a.limits[a.limits.value_per_unit > 1e-9]
        for row in binding.itertuples():
            unit = f"{money} of budget" if row.constraint.endswith("cost") else "contact"
            print(f"  {row.constraint}: one more {unit} would add {row.value_per_unit:,.2f} "
                  f"{money}")
    if args.export:
        for row in prioritize.export(ws, plan, args.export, format=args.format).itertuples():
            print(f"  {row.campaign_id} ({row.channel}): exported {row.exported:,}, "
                  f"{row.control:,} held out as control -> {row.file}")


def _health(args) -> None:
    from lifecycle import health

    if not (args.list or args.message or args.domain):
        raise ValueError("nothing to check: give --list, --message or --domain")
    checked = None
    if args.list:
        path = Path(args.list)
        _check_readable(path)
        table = (pd.read_parquet(path) if path.suffix.lower() == ".parquet"
                 else pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                                  skip_blank_lines=False))  # a blank line: no address
        checked = health.check_list(table)
    messages = {}
    for name in args.message or []:
        path = Path(name)
        _check_readable(path)
        messages[path.name] = health.check_message(path.read_bytes())
    sender = None
    if args.domain:
        sender = health.check_sender(args.domain, spf=args.spf, dmarc=args.dmarc, ip=args.ip,
                                     resolver=health.dns_resolver() if args.dns else None)
    result = health.report(checked, messages=messages, sender=sender)
    from lifecycle.health.report import score_text

    for row in result.scores.itertuples():
        print(f"{row.area:<15} {score_text(row.score)}")
    failed = result.findings[result.findings.passed == False]  # noqa: E712 (None: unchecked)
    for row in failed.itertuples():
        print(f"  failed: {row.source}: {row.check}: {row.evidence}")
    if result.counts is not None:
        actions = result.counts.loc[["keep", "fix", "suppress"], "count"]
        print("addresses: " + ", ".join(f"{n:,} {a}" for a, n in actions.items()))
    if args.out:
        print(f"report -> {result.write_html(args.out)}")
    if args.addresses and result.addresses is not None:
        from lifecycle._files import write_text

        print(f"addresses to clean -> "
              f"{write_text(Path(args.addresses), result.addresses.to_csv(index=False))}")


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


class _Parser(argparse.ArgumentParser):
    """argparse that reports a wrong command line on one line of stderr (exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _mapping(text: str) -> list[tuple[str, str]]:
    """``src=dst[,src=dst...]`` as ``[(src, dst), ...]`` (the file's column, canonical name)."""
    pairs = [item.split("=") for item in text.split(",") if item.strip()]
    if not pairs or any(len(pair) != 2 or not all(p.strip() for p in pair) for pair in pairs):
        raise argparse.ArgumentTypeError(f"{text!r} is not SOURCE=CANONICAL[,SOURCE=CANONICAL]")
    return [(src.strip(), dst.strip()) for src, dst in pairs]


def _columns(mappings: list[list[tuple[str, str]]] | None) -> dict[str, str] | None:
    """Every ``--columns`` as one ``{source: canonical}`` mapping, as Workspace.load takes it.

    Two sources mapped onto one canonical name are left to the load to refuse (it names both).
    """
    merged: dict[str, str] = {}
    for source, canonical in (pair for mapping in mappings or [] for pair in mapping):
        if merged.get(source, canonical) != canonical:
            raise ValueError(f"--columns maps {source!r} to both {merged[source]!r} and "
                             f"{canonical!r}")
        merged[source] = canonical
    return merged or None


def _date(text: str) -> str:
    try:
        pd.Timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (e.g. 2024-12-31)") from None
    return text


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lifecycle", description="The lifecycle workbench's batch commands: "
                     "build the demo, load and check data, serve dashboards, share notebooks. "
                     "`lifecycle COMMAND --help` explains each command's arguments.")
    parser.add_argument("--traceback", action="store_true",
                        help="on a failure, show the Python traceback (for a bug report)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="build the demo workspace (synthetic data)",
                          description="Build the demo workspace of synthetic customers, or "
                                      "reopen it when the file exists.")
    demo.add_argument("--customers", type=int, default=50_000, metavar="N",
                      help="number of customers to generate (default 50000)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--overwrite", action="store_true",
                      help="rebuild the file if it exists (replaced in one step at the end)")
    demo.set_defaults(run=_demo)
    load = sub.add_parser("load", help="validate a CSV / Parquet file and load it",
                          description="Validate a CSV or Parquet file against its canonical "
                                      "table and store it in a workspace, replacing the table. "
                                      "Nothing is stored when a rule is broken. CSV timestamps "
                                      "must be ISO 8601 (2024-01-05 or 2024-01-05 12:00:00, "
                                      "optionally with a UTC offset +02:00).")
    load.add_argument("kind", choices=list(TABLES), metavar="TABLE",
                      help=f"canonical table: {', '.join(TABLES)}")
    load.add_argument("file", metavar="FILE",
                      help="a .csv, .csv.gz, .tsv or .parquet file, or a glob of them")
    load.add_argument("--as-of", type=_date, default=None, metavar="DATE",
                      help="no event may lie after this date (default: the workspace's as-of "
                           "date, else today); a later date becomes the workspace's as-of date")
    load.add_argument("--columns", type=_mapping, action="append", metavar="SRC=DST",
                      help="the file's column SRC holds canonical column DST, e.g. "
                           "--columns member_no=customer_id,joined=created_at (repeatable)")
    load.set_defaults(run=_load)
    quality = sub.add_parser("quality", help="print the data-quality report",
                             description="Print every repair made while loading, per column.")
    quality.set_defaults(run=_quality)
    run = sub.add_parser(
        "run", help="run the lifecycle programs for a day and export their selections",
        description="Evaluate the lifecycle programs as of a day (the daily scheduled job): "
                    "select who gets which step, re-check consent, write one export file per "
                    "program with its manifest, and record the contacts. Running a day twice "
                    "selects nobody new the second time.")
    run.add_argument("--as-of", type=_date, required=True, metavar="DATE",
                     help="the day of the run, e.g. 2026-10-31 (data up to its midnight)")
    run.add_argument("--program", action="append", metavar="NAME",
                     choices=list(PROGRAMS),
                     help=f"a program to run (repeatable; default all: "
                          f"{', '.join(PROGRAMS)})")
    run.add_argument("--dry-run", action="store_true",
                     help="count who would be selected; write nothing")
    run.add_argument("--out", default="exports", metavar="FOLDER",
                     help="folder for the export files (default exports/)")
    run.add_argument("--format", choices=["csv", "parquet"], default="csv",
                     help="export file format (default csv)")
    run.set_defaults(run=_run)
    prio = sub.add_parser(
        "prioritize", help="allocate a campaign group's contacts for a day across campaigns",
        description="Take the day's selections of a campaign group's programs and allocate "
                    "the contacts under the stored limits and contact policies: in priority "
                    "order (the priority mode), or for the most expected value (the "
                    "optimizing mode). The run is recorded with its inputs; nothing is sent "
                    "unless --export is given.")
    prio.add_argument("--group", required=True, metavar="GROUP",
                      help="the campaign group (the campaigns table's group_id)")
    prio.add_argument("--as-of", type=_date, required=True, metavar="DATE",
                      help="the day, e.g. 2026-10-31")
    prio.add_argument("--mode", choices=["priority", "optimal"], default="priority",
                      help="priority order, or the most value (default priority)")
    prio.add_argument("--objective", choices=["value", "profit"], default="value",
                      help="what the optimizing mode maximises: expected value, or value "
                           "minus cost (default value)")
    prio.add_argument("--export", default=None, metavar="FOLDER",
                      help="write the selection, one file per campaign and channel, and "
                           "record the contacts")
    prio.add_argument("--format", choices=["csv", "parquet"], default="csv",
                      help="export file format (default csv)")
    prio.set_defaults(run=_prioritize)
    check = sub.add_parser(
        "health", help="check an e-mail list, sample messages and the sending domain",
        description="The e-mail health check: which addresses of a list to keep, fix or "
                    "suppress; how sample messages authenticate, unsubscribe, show on phones "
                    "and read; the sending domain's SPF and DMARC records and block lists. "
                    "Prints a score per area and what failed; --out writes the report. "
                    "Nothing is looked up on the network unless --dns is given.")
    check.add_argument("--list", metavar="FILE",
                       help="CSV or Parquet with an email column (and customer_id), e.g. an "
                            "export of the customers table")
    check.add_argument("--message", action="append", metavar="EML",
                       help="a raw sample message (.eml as saved from a mailbox); repeatable")
    check.add_argument("--domain", metavar="DOMAIN", help="the sending domain to check")
    check.add_argument("--spf", metavar="RECORD", help="the domain's SPF record as text")
    check.add_argument("--dmarc", metavar="RECORD", help="the domain's DMARC record as text")
    check.add_argument("--ip", metavar="ADDRESS", help="the sending IP, for the block lists")
    check.add_argument("--dns", action="store_true",
                       help="look up what is not given as text (needs dnspython)")
    check.add_argument("--out", metavar="HTML", help="write the report as one HTML file")
    check.add_argument("--addresses", metavar="CSV",
                       help="write the addresses to fix or suppress, with their flags")
    check.set_defaults(run=_health)
    serve = sub.add_parser("serve", help="serve the dashboards with Voila (offline, preheated)")
    serve.add_argument("--dashboards", default="dashboards", help="folder of dashboard notebooks")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8866, help="port to bind (default 8866)")
    serve.add_argument("--token", default=os.environ.get("TOKEN") or None,
                       help="require this token (open /?token=...); default $TOKEN, else none")
    serve.add_argument("--pool-size", type=int, default=1,
                       help="preheated kernels per dashboard (0: start one per page load)")
    serve.set_defaults(run=_serve)
    html = sub.add_parser("html", help="run notebooks and save them as HTML with their figures")
    html.add_argument("notebooks", nargs="+", help="notebook files, e.g. notebooks/*.ipynb")
    html.add_argument("--out", default="build/html", help="folder for the HTML files")
    html.set_defaults(run=_html)
    for p in (demo, quality, run, prio, serve, html):
        p.add_argument("--path", default=None, metavar="FILE",
                       help=f"workspace file (default {default_path()})")
    load.add_argument("--path", default=None, metavar="FILE",
                      help="workspace file to load into, created if missing (required unless "
                           "$LIFECYCLE_WORKSPACE names one that is not the demo workspace)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code. A failure is one line on stderr."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a wrong command line (2), already reported
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.command == "load":
            args.columns = _columns(args.columns)
        args.run(args)
    except KeyboardInterrupt:
        print(f"lifecycle {args.command}: interrupted", file=sys.stderr)
        return 130
    except RunInProgress as exc:
        print(f"lifecycle {args.command}: {exc}", file=sys.stderr)
        return 3
    except Exception as exc:  # the boundary: one line, never a traceback unless asked
        if args.traceback:
            traceback.print_exc()
        print(f"lifecycle {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 1
    return 0


def _one_line(exc: Exception) -> str:
    """An error as one line: a DataError's problems, an expected error's message, or a
    bug's type and message with a pointer to ``--traceback``."""
    if isinstance(exc, DataError):
        return exc.line()
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    text = "; ".join(line.strip() for line in str(text).splitlines() if line.strip())
    if isinstance(exc, (OSError, ValueError, KeyError, duckdb.Error)):
        return text
    return f"unexpected {type(exc).__name__}: {text} (run with --traceback for details)"


def _entry() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    _entry()
