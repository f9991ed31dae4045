"""``mmface-studio data synth`` and ``mmface-studio data check``: build a synthetic corpus, check a dataset folder.

Kept apart from ``cli.py`` (like ``cli_export``) so that start-up stays light: only argparse is
imported here; the corpus builder and the checker load when their command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``data`` (with ``synth`` and ``check``) on the main parser's subcommands."""
    data = subparsers.add_parser("data", help="training data: build the synthetic corpus, check a dataset folder")
    sub = data.add_subparsers(dest="data_command", required=True)

    synth = sub.add_parser("synth", help="build the synthetic corpus (TTS speech + classic-engine targets + text)",
                           description="Synthesise speech with espeak-ng (and festival / Piper when installed), "
                                       "make arkit52 targets with the classic engine under random emotion and "
                                       "head-motion programs, write hierarchical text, and store it all in shards.")
    synth.add_argument("--hours", type=float, required=True, help="hours of audio to make (e.g. 0.1 for 6 minutes)")
    synth.add_argument("--out", required=True, help="folder to write (index.json + shard-NNNNN.npz/.json)")
    synth.add_argument("--seed", type=int, default=0, help="corpus seed: same seed, same bytes (default 0)")
    synth.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    synth.add_argument("--mel", action="store_true", help="also store 80-band log-mel features (float16, 100 Hz)")
    synth.add_argument("--text-only-share", type=float, default=None,
                       help="share of clips that are facial actions without speech (default 0.12)")
    synth.add_argument("--shard-minutes", type=float, default=10.0, help="minutes of audio per shard (default 10)")
    synth.add_argument("--backends", default="espeak,festival,piper",
                       help="synthesisers to use, comma-separated (those not installed are skipped)")
    synth.set_defaults(func=cmd_synth)

    check = sub.add_parser("check", help="report every problem in a dataset folder (exit status 1 if any)",
                           description="Check a FLAME (MMHead/MEAD-3D style), Live Link Face CSV or synthetic "
                                       "corpus folder: missing audio, length mismatch, NaNs, wrong fps, bad JSON, "
                                       "wrong column count. See docs/datasets.md for the layouts.")
    check.add_argument("folder", help="dataset folder (with dataset.json, or a synthetic corpus with index.json)")
    check.add_argument("--tolerance", type=float, default=None,
                       help="allowed audio/motion length difference in seconds (default 0.1)")
    check.set_defaults(func=cmd_check)
    return data


def _fail(message: str) -> None:
    try:
        from mmface_studio.cli import CliError
    except ImportError:  # pragma: no cover - cli.py always exists in the package
        raise SystemExit(f"mmface-studio: error: {message}") from None
    raise CliError(message)


def cmd_synth(args: argparse.Namespace) -> int:
    from mmface_studio.training.synth import CorpusConfig, CorpusError, build_corpus
    from mmface_studio.training.synth.corpus import TEXT_ONLY_SHARE

    if not args.hours > 0:
        _fail(f"--hours must be positive, got {args.hours:g}.")
    if args.workers < 1:
        _fail(f"--workers must be at least 1, got {args.workers}.")
    share = TEXT_ONLY_SHARE if args.text_only_share is None else args.text_only_share
    if not 0.0 <= share <= 1.0:
        _fail(f"--text-only-share must be between 0 and 1, got {share:g}.")
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    unknown = sorted(set(backends) - {"espeak", "festival", "piper"})
    if unknown:
        _fail(f"unknown synthesiser(s) {', '.join(unknown)}; use espeak, festival, piper.")
    config = CorpusConfig(hours=args.hours, seed=args.seed, with_mel=args.mel, text_only_share=share,
                          shard_seconds=args.shard_minutes * 60.0, backends=backends)
    try:
        result = build_corpus(args.out, config, workers=args.workers,
                              progress=lambda line: print(line, file=sys.stderr, flush=True))
    except (CorpusError, OSError) as exc:
        _fail(str(exc))
    totals, build = result["totals"], result["build"]
    voices = {}
    for v in result["voices"]:
        voices.setdefault(v["backend"], 0)
        voices[v["backend"]] += 1
    print(json.dumps({"out": str(args.out), "examples": totals["examples"], "minutes": round(totals["seconds"] / 60, 2),
                      "split_minutes": {k: round(v / 60, 2) for k, v in totals["split_seconds"].items()},
                      "voices": voices, **build}, indent=1))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from mmface_studio.training.data_check import LENGTH_TOLERANCE_S, run_check

    tolerance = LENGTH_TOLERANCE_S if args.tolerance is None else args.tolerance
    if tolerance < 0:
        _fail(f"--tolerance must be >= 0, got {tolerance:g}.")
    return run_check(args.folder, tolerance)
