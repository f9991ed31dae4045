"""``mmface-studio report --data CORPUS --models DIR [--dev DEV] [--json OUT] [--cards]``: held-out metrics.

Scores every checkpoint in DIR (``--models`` may be repeated) against the classic engine on the
synthetic corpus's test split (voices and sentences never in training) and, given ``--dev``, on
real recordings; prints the
tables (Markdown), optionally writes the whole report as JSON and, with ``--cards``, puts the
tables into each checkpoint's model card and its numbers into the card's JSON metadata. What is
measured, and why, is in ``training.report``.

Like the other subcommands this imports only argparse until it runs; failures are one line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


class ReportCommandError(Exception):
    """A user-facing failure of ``report``: printed as one line, exit code 2."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``report`` on the main parser's subcommands (``cli.build_parser``)."""
    parser = subparsers.add_parser(
        "report", help="held-out metrics of trained checkpoints vs the classic engine (model-card tables)",
        description="Evaluate every checkpoint in --models on the corpus's held-out test split and on real dev "
                    "clips, against the classic engine.")
    parser.add_argument("--data", required=True, help="synthetic corpus folder (mmface-studio data synth)")
    parser.add_argument("--models", required=True, action="append",
                        help="folder of checkpoints (NAME.safetensors + NAME.json); repeat for several folders")
    parser.add_argument("--dev", help="real dev recordings: a folder with clips.tsv (id, transcript, wav16k)")
    parser.add_argument("--json", help="write the whole report as JSON to this file")
    parser.add_argument("--cards", action="store_true", help="put the tables into each checkpoint's NAME.md and "
                                                             "its numbers into NAME.json")
    parser.add_argument("--max-clips", type=int, default=30, help="held-out speech clips to score (default 30)")
    parser.add_argument("--max-dev-clips", type=int, help="dev clips to score (default: all)")
    parser.add_argument("--pose-seeds", type=int, default=4, help="head-pose samples per clip (default 4)")
    parser.add_argument("--classic", default="truth,aligned,recognised",
                        help="classic-engine variants: truth (the teacher's phones), aligned (transcript), "
                             "recognised (audio only); comma-separated")
    parser.add_argument("--cache", help="where the report's yardstick models are cached (default: CORPUS/yardsticks)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default 2)")
    parser.set_defaults(func=cmd_report)
    return parser


def cmd_report(args: argparse.Namespace) -> int:
    """Run the report; failures become the main CLI's one-line error (``cli.CliError``)."""
    try:
        return _report(args)
    except ReportCommandError as exc:
        try:
            from mmface_studio.cli import CliError
        except ImportError:  # pragma: no cover - cli.py always exists in the package
            raise exc from None
        raise CliError(str(exc)) from None


def _config(args: argparse.Namespace) -> Any:
    from mmface_studio.training.report import CLASSIC, ReportConfig

    data, models = Path(args.data), [Path(m) for m in args.models]
    if not (data / "index.json").is_file():
        raise ReportCommandError(f"{data} is not a synthetic corpus (no index.json); make one with "
                                 "'mmface-studio data synth'.")
    for folder in models:
        if not folder.is_dir():
            raise ReportCommandError(f"{folder} is not a folder of checkpoints.")
    modes = tuple(m.strip() for m in args.classic.split(",") if m.strip())
    unknown = [m for m in modes if m not in CLASSIC]
    if unknown:
        raise ReportCommandError(f"--classic: unknown variant(s) {', '.join(unknown)}; use {', '.join(CLASSIC)}.")
    if args.max_clips < 1 or args.pose_seeds < 2:
        raise ReportCommandError("--max-clips must be >= 1 and --pose-seeds >= 2.")
    dev = Path(args.dev) if args.dev else None
    if dev is not None and not (dev / "clips.tsv").is_file():
        raise ReportCommandError(f"--dev {dev} has no clips.tsv.")
    return ReportConfig(data=data, models=models, dev=dev, max_clips=args.max_clips, max_dev_clips=args.max_dev_clips,
                        pose_seeds=args.pose_seeds, classic_modes=modes,
                        cache=Path(args.cache) if args.cache else None)


def _report(args: argparse.Namespace) -> int:
    config = _config(args)
    import json

    import torch

    from mmface_studio.training.report import run_report
    from mmface_studio.training.report_cards import finite, tables, update_cards

    torch.set_num_threads(max(1, int(args.threads)))
    try:
        report = run_report(config)
    except KeyboardInterrupt:
        raise ReportCommandError("report interrupted.") from None
    except (ValueError, OSError) as exc:
        raise ReportCommandError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    print(tables(report))
    print("\n".join(f"- {n}" for n in report["notes"]))
    if report["skipped"]:
        print("\nNot evaluated: " + "; ".join(report["skipped"]))
    if args.json:
        Path(args.json).write_text(json.dumps(finite(report), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        print(f"\nreport written to {args.json}")
    if args.cards:
        written = update_cards(report)
        print(f"\ncards updated: {', '.join(p.name for p in written) or 'none (no checkpoints)'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m mmface_studio.cli_report report ...``), the same as the main CLI's."""
    parser = argparse.ArgumentParser(prog="mmface-studio")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return _report(args)
    except ReportCommandError as exc:
        print(f"mmface-studio: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
