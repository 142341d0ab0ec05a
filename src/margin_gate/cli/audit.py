"""`margin-gate audit tail|export|verify`: read, export and check the audit log.

Sources are JSONL files, directories of rotated files (read in name order), or a Redis URL
with `--stream NAME`. Nothing here reads the gateway's config: paths are given explicitly.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]

_EPILOG = "PATH is a JSONL file, a directory of audit files, or redis://host:port/db (+ --stream)."


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="tail, export and verify the audit log")
    sub = parser.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")

    tail = sub.add_parser("tail", help="print the last records and follow new ones", epilog=_EPILOG)
    _sources(tail)
    _filters(tail)
    tail.add_argument("-n", "--lines", type=int, default=10, help="backlog records (default 10)")
    tail.add_argument("--no-follow", action="store_true", help="print the backlog and exit")
    tail.add_argument("--format", choices=("jsonl", "text"), default="jsonl")
    tail.add_argument("--poll", type=float, default=0.2, help="seconds between checks")
    tail.set_defaults(func=_tail)

    export = sub.add_parser(
        "export", help="records in a time range as JSONL or CSV", epilog=_EPILOG
    )
    _sources(export)
    _filters(export)
    export.add_argument("--from", dest="start", help="ISO-8601 (UTC if no offset) or epoch ms")
    export.add_argument("--to", dest="end", help="exclusive end, same formats")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--out", help="output file (default stdout)")
    export.set_defaults(func=_export)

    verify = sub.add_parser(
        "verify", help="check the hash chains; name the first tampered record", epilog=_EPILOG
    )
    _sources(verify)
    verify.add_argument(
        "--partial",
        action="store_true",
        help="accept chains that start past seq 1 (older files pruned); implied for streams",
    )
    verify.add_argument("--strict", action="store_true", help="a torn tail also fails")
    verify.set_defaults(func=_verify)


def _sources(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.add_argument("--path", action="append", default=[], help="same as PATH (repeatable)")
    p.add_argument("--stream", help="Redis stream key, with a redis:// PATH")


def _filters(p: argparse.ArgumentParser) -> None:
    for name in ("bot", "account", "decision", "kind"):
        p.add_argument(f"--{name}", action="append", help=f"only this {name} (repeatable)")


def _parse_sources(args: argparse.Namespace) -> list[Any]:
    from margin_gate.audit.reader import Source

    specs = [*args.paths, *args.path]
    if not specs:
        raise ValueError("no PATH given (a file, a directory, or redis://... --stream NAME)")
    return [Source.parse(spec, args.stream) for spec in specs]


def _make_filters(
    args: argparse.Namespace, start: int | None = None, end: int | None = None
) -> Any:
    from margin_gate.audit.export import Filters

    def pick(name: str) -> frozenset[str] | None:
        values = getattr(args, name)
        return frozenset(values) if values else None

    return Filters(pick("bot"), pick("account"), pick("decision"), pick("kind"), start, end)


def _closed_pipe() -> int:
    # `... | head`: stop quietly, and keep Python from complaining at exit.
    import os

    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _fail(message: str) -> int:
    print(f"margin-gate audit: {message}", file=sys.stderr)
    return 2


def _tail(args: argparse.Namespace) -> int:
    import orjson

    from margin_gate.audit.tail import brief
    from margin_gate.audit.tail import follow_files
    from margin_gate.audit.tail import follow_stream

    try:
        sources = _parse_sources(args)
    except ValueError as exc:
        return _fail(str(exc))
    if len(sources) != 1:
        return _fail("tail follows one PATH")
    filters = _make_filters(args)

    def keep(line: bytes) -> bool:
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            return False
        return isinstance(rec, dict) and bool(filters.match(rec))

    follow = not args.no_follow
    src = sources[0]
    kw: dict[str, Any] = {"backlog": args.lines, "poll": args.poll}
    if not follow:
        kw["stop"] = lambda: True
    try:
        if src.path is not None:
            lines = follow_files(src.path, keep, **kw)
        else:
            lines = follow_stream(src.redis_url, src.stream, keep, **kw)
        out = sys.stdout.buffer
        for line in lines:
            out.write(brief(line).encode() + b"\n" if args.format == "text" else line + b"\n")
            out.flush()
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return _closed_pipe()
    except (OSError, ValueError) as exc:
        return _fail(str(exc))
    return 0


def _export(args: argparse.Namespace) -> int:
    from margin_gate.audit.export import export_csv
    from margin_gate.audit.export import export_jsonl
    from margin_gate.audit.export import parse_time
    from margin_gate.audit.export import select
    from margin_gate.audit.reader import iter_sources

    try:
        sources = _parse_sources(args)
        start = parse_time(args.start) if args.start else None
        end = parse_time(args.end) if args.end else None
    except ValueError as exc:
        return _fail(str(exc))
    selected = select(iter_sources(sources), _make_filters(args, start, end))
    try:
        if args.format == "csv":
            if args.out:
                with open(args.out, "w", newline="", encoding="utf-8") as f:
                    n = export_csv(selected, f)
            else:
                n = export_csv(selected, sys.stdout)
        elif args.out:
            with open(args.out, "wb") as fb:
                n = export_jsonl(selected, fb)
        else:
            n = export_jsonl(selected, sys.stdout.buffer)
    except BrokenPipeError:
        return _closed_pipe()
    except OSError as exc:
        return _fail(str(exc))
    print(f"exported {n} records", file=sys.stderr)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from margin_gate.audit.reader import iter_sources
    from margin_gate.audit.verify import format_report
    from margin_gate.audit.verify import verify

    try:
        sources = _parse_sources(args)
        streamed = any(s.redis_url is not None for s in sources)
        report = verify(
            iter_sources(sources),
            allow_partial_head=args.partial or streamed,
            allow_duplicates=streamed,
        )
    except (OSError, ValueError) as exc:
        return _fail(str(exc))
    except Exception as exc:  # a Redis error: report it, not a traceback
        if type(exc).__module__.startswith("redis"):
            return _fail(f"redis: {exc}")
        raise
    print(format_report(report))
    if not report.ok:
        return 1
    if report.records == 0:
        # Proving "untouched" needs something to prove: an empty or mistyped path is a failure.
        print("FAILED: no audit records found", file=sys.stderr)
        return 1
    if args.strict and any(w.kind == "torn tail" for w in report.warnings):
        print("FAILED: torn tail (--strict)")
        return 1
    return 0
