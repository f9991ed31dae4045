"""Command line: ``mmface-studio [gui] | rig info | render | --version``.

Heavy imports happen inside the subcommands so that ``--version`` and ``rig
info`` stay fast and never touch Qt or OpenGL.
"""

from __future__ import annotations

import argparse
import json
import sys

from mmface_studio import __version__
from mmface_studio.cli_data import add_parser as add_data_parser
from mmface_studio.cli_evaluate import add_parser as add_evaluate_parser
from mmface_studio.cli_export import add_export_parser
from mmface_studio.cli_report import add_parser as add_report_parser
from mmface_studio.cli_train import add_parser as add_train_parser


class CliError(Exception):
    """A user-facing command-line failure: printed as one line, exit code 2."""


def _parse_assignments(text: str) -> dict[str, float]:
    """``jawOpen=1,mouthSmileLeft=0.5`` -> dict; a clear error for anything malformed."""
    values: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise CliError(f"--set expects NAME=VALUE pairs separated by commas; got '{item}'.")
        try:
            values[name.strip()] = float(raw)
        except ValueError:
            raise CliError(f"--set value for '{name.strip()}' is not a number: '{raw}'.") from None
    return values


def _load_rig(flame: str | None):
    from mmface_studio.rig.base import RigError
    from mmface_studio.rig.loading import load_rig

    try:
        return load_rig(flame)
    except RigError as exc:
        raise CliError(str(exc)) from None
    except FileNotFoundError as exc:
        raise CliError(f"File not found: {exc.filename}") from None


def cmd_rig_info(args: argparse.Namespace) -> int:
    rig = _load_rig(args.flame)
    info = rig.info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"rig:        {info['rig']}")
    print(f"vertices:   {info['vertices']}")
    print(f"faces:      {info['faces']}")
    print("parts:      " + ", ".join(f"{k} ({v} tris)" for k, v in info["parts"].items()))
    print(f"joints:     {', '.join(info['joints'])}")
    print(f"blendshapes:{info['blendshapes']:>5}")
    print(f"space:      {info['space']} ({len(info['channels'])} channels)")
    print(f"channels:   {', '.join(info['channels'])}")
    return 0


def _parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise CliError(f"--size expects WIDTHxHEIGHT, e.g. 800x800; got '{text}'.") from None
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise CliError(f"--size must be between 16 and 8192 pixels per side; got {text}.")
    return width, height


def cmd_render(args: argparse.Namespace) -> int:
    from mmface_studio.core.spaces import SpaceError

    rig = _load_rig(args.flame)
    try:
        params = rig.params(_parse_assignments(args.set or ""))
    except SpaceError as exc:
        raise CliError(str(exc)) from None
    from mmface_studio.ui.viewport.head_scene import VIEWS
    from mmface_studio.ui.viewport.offscreen import render_rig, save_png

    if args.view not in VIEWS:
        raise CliError(f"--view must be one of {', '.join(VIEWS)}.")
    if rig.identity_controls() and args.identity:
        try:
            rig.set_identity(_parse_assignments(args.identity))
        except (KeyError, ValueError) as exc:
            raise CliError(str(exc)) from None
    image = render_rig(rig, params, size=_parse_size(args.size), view=args.view, wireframe=args.wireframe)
    try:
        out = save_png(image, args.output)
    except OSError as exc:
        raise CliError(f"Could not write {args.output}: {exc.strerror or exc}.") from None
    print(out)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """Speech file -> performance file (.npz/.json with provenance, or Live Link Face .csv)."""
    from pathlib import Path

    from mmface_studio.audio import AudioError, load_audio
    from mmface_studio.core.performance_io import PerformanceFileError, save_performance
    from mmface_studio.engine import EmotionTrack, GenerationRequest, Pipeline, RequestError
    from mmface_studio.export import arkit_csv

    out = Path(args.output)
    if out.suffix.lower() not in (".npz", ".json", ".csv"):
        raise CliError(f"-o must end in .npz, .json or .csv; got '{out.name}'.")
    transcript = args.transcript
    if transcript and Path(transcript).is_file():
        transcript = Path(transcript).read_text(encoding="utf-8", errors="replace").strip()
    try:
        clip = load_audio(args.audio)
        request = GenerationRequest(audio=clip, transcript=transcript or None, prompt=args.prompt or "",
                                    emotion=args.emotion or EmotionTrack.neutral(),
                                    pose_seed=args.seed, pose_style=args.pose_style, fps=args.fps,
                                    blink_seed=args.seed)
        pipeline = Pipeline()
        perf = pipeline.run(request)
    except (AudioError, RequestError) as exc:
        raise CliError(str(exc)) from None
    for warning in clip.warnings:
        print(f"warning: {warning.message}", file=sys.stderr)
    analysis = pipeline.last_analysis
    if analysis is not None and analysis.fallback_reason:
        print(f"warning: {analysis.fallback_reason}", file=sys.stderr)
    try:
        if out.suffix.lower() == ".csv":
            arkit_csv.write_to_file(perf, out)
        else:
            save_performance(perf, out)
    except (OSError, PerformanceFileError) as exc:
        raise CliError(f"Could not write {out}: {getattr(exc, 'strerror', None) or exc}") from None
    mode = analysis.mode if analysis is not None else "?"
    print(f"{out}: {perf.frame_count} frames at {perf.fps:g} fps ({perf.duration:.2f} s), {perf.space.name}, "
          f"phonetic track by {mode}")
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    from mmface_studio.ui.app import run_gui

    return run_gui(flame=args.flame, screenshot=args.screenshot, quit_after_ms=args.quit_after, demo=args.demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmface-studio", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"mmface-studio {__version__}")
    sub = parser.add_subparsers(dest="command")

    gui = sub.add_parser("gui", help="open the application window (the default)")
    gui.add_argument("--flame", help="open a FLAME model file instead of the built-in head")
    gui.add_argument("--demo", action="store_true", help="generate and play the demo clip on start")
    gui.add_argument("--screenshot", help="save a window screenshot once the head is shown, then quit")
    gui.add_argument("--quit-after", type=int, metavar="MS", help="quit after MS milliseconds")
    gui.set_defaults(func=cmd_gui)

    gen = sub.add_parser("generate", help="speech audio -> performance (.npz, .json or Live Link Face .csv)")
    gen.add_argument("audio", help="WAV, FLAC, OGG or MP3 speech recording")
    gen.add_argument("--transcript", help="transcript text, or a file holding it (enables forced alignment)")
    gen.add_argument("--prompt", help="text prompt (recorded in provenance; used by neural engines)")
    gen.add_argument("--emotion", help="emotion keys, e.g. happiness:0.8@0,sadness:0.6@3.5")
    gen.add_argument("--pose-style", default="calm", help="calm, animated, nodding or shaking")
    gen.add_argument("--seed", type=int, default=0, help="seed for head motion and blinks")
    gen.add_argument("--fps", type=float, default=30.0)
    gen.add_argument("-o", "--output", required=True, help="out.npz, out.json or out.csv")
    gen.set_defaults(func=cmd_generate)

    add_export_parser(sub)
    add_data_parser(sub)
    add_evaluate_parser(sub)
    add_train_parser(sub)
    add_report_parser(sub)

    rig = sub.add_parser("rig", help="inspect rigs")
    rig_sub = rig.add_subparsers(dest="rig_command", required=True)
    info = rig_sub.add_parser("info", help="vertex/face counts, parts, joints and channels")
    info.add_argument("--flame", help="a FLAME model file (.pkl or .npz)")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=cmd_rig_info)

    render = sub.add_parser("render", help="render the head offscreen to a PNG")
    render.add_argument("--set", default="", help="channel values, e.g. jawOpen=1,mouthSmileLeft=0.5")
    render.add_argument("--identity", default="", help="identity values, e.g. age=0.5")
    render.add_argument("--flame", help="render a FLAME model file instead of the built-in head")
    render.add_argument("--view", default="front", help="front, three-quarter, side or back")
    render.add_argument("--size", default="800x800", help="WIDTHxHEIGHT in pixels")
    render.add_argument("--wireframe", action="store_true")
    render.add_argument("-o", "--output", required=True, help="PNG file to write")
    render.set_defaults(func=cmd_render)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui", *(argv or sys.argv[1:])])
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"mmface-studio: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
