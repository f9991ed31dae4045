"""``mmface-studio export``: a performance file -> FBX, OBJ sequence, glTF/GLB, USD or ARKit CSV.

Kept apart from ``cli.py`` so that the command line's start-up stays light: this module imports
only argparse; numpy, the rigs and the format libraries load when the command runs. Every failure
(bad arguments, unreadable input, missing library, unwritable output, a cancel) ends as one line
on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

FORMATS = ".fbx, .obj, .glb, .gltf, .usda, .usdc, .usd or .csv"


class ExportCommandError(Exception):
    """A user-facing failure of ``export``: printed as one line, exit code 2."""


def add_export_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``export`` on the main parser's subcommands (``cli.build_parser``)."""
    parser = subparsers.add_parser(
        "export", help=f"performance (.npz/.json from generate) -> {FORMATS}",
        description="Export a performance on the built-in head (or a FLAME head) for a game engine or DCC.")
    parser.add_argument("input", help="project file (.mmfs) or performance file written by 'generate' (.npz/.json)")
    parser.add_argument("-o", "--output", required=True, help=f"file to write: {FORMATS} "
                        "(an OBJ sequence writes NAME_0000.obj... and NAME.mtl)")
    parser.add_argument("--flame", help="FLAME model file: export on a FLAME head (for flame56 performances)")
    parser.add_argument("--fps", type=float, help="output frame rate (default: the performance's)")
    parser.add_argument("--range", metavar="A:B", help="first and last frame, inclusive, 0-based (A: or :B too)")
    parser.add_argument("--step", type=int, help="write every N-th frame")
    parser.add_argument("--up", type=str.upper, choices=("Y", "Z"), help="up axis of the file (default Y)")
    parser.add_argument("--units", choices=("cm", "m"), help="length unit (default: the format's usual one)")
    parser.set_defaults(func=cmd_export)
    return parser


def cmd_export(args: argparse.Namespace) -> int:
    """Run the export; failures become the main CLI's one-line error (``cli.CliError``) when it is there."""
    try:
        return _export(args)
    except ExportCommandError as exc:
        try:
            from mmface_studio.cli import CliError
        except ImportError:  # pragma: no cover - cli.py always exists in the package
            raise exc from None
        raise CliError(str(exc)) from None


def _export(args: argparse.Namespace) -> int:
    out = Path(args.output)
    from mmface_studio.export import ADAPTERS

    if out.suffix.lower() not in ADAPTERS:
        raise ExportCommandError(f"-o must end in {FORMATS}; got '{out.name}'.")
    try:
        return _run(args, out)
    except ExportCommandError:
        raise
    except KeyboardInterrupt:
        raise ExportCommandError("export interrupted; nothing was written.") from None
    except Exception as exc:  # every failure is one line for the user (the message names the cause)
        raise ExportCommandError(_describe(exc, out)) from None


def _describe(exc: Exception, out: Path) -> str:
    from mmface_studio.export.errors import ExportCancelled

    if isinstance(exc, ExportCancelled):
        return "export cancelled; nothing was written."
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename}"
    if isinstance(exc, OSError):
        return f"could not write {out}: {exc.strerror or exc}"
    text = str(exc).strip() or type(exc).__name__
    known = {"ExportError", "PerformanceFileError", "RigError", "FlameModelError", "SpaceError"}
    if not any(cls.__name__ in known for cls in type(exc).__mro__):
        text = f"{type(exc).__name__}: {text}"
    return text.splitlines()[0]


def _run(args: argparse.Namespace, out: Path) -> int:
    from mmface_studio.core.performance_io import load_performance
    from mmface_studio.export import ExportOptions, export_performance, sample_frames

    rig_override = None
    if Path(args.input).suffix.lower() == ".mmfs":
        perf, rig_override = _from_project(args.input)
    else:
        perf = load_performance(args.input)
    options = {key: value for key, value in (("fps", args.fps), ("range", args.range), ("step", args.step),
                                             ("up", args.up), ("units", args.units)) if value is not None}
    rig = None
    if out.suffix.lower() != ".csv":
        rig = _rig_for(perf, args.flame or rig_override)
    written = export_performance(perf, rig, out, **options)
    common = {k: v for k, v in options.items() if k in ("fps", "range", "step")}
    sampled = sample_frames(perf, ExportOptions.coerce(common))
    span = f"frames {int(sampled.frames[0])}-{int(sampled.frames[-1])}"
    where = str(written)
    if out.suffix.lower() == ".obj":
        where = f"{written} ... ({len(sampled)} files + {out.with_suffix('.mtl').name})"
    on = f" on {rig.name}" if rig is not None else ""
    print(f"{where}: {len(sampled)} frames ({span}) at {sampled.fps:g} fps, {perf.space.name}{on}")
    return 0


def _from_project(path: str) -> tuple[Any, str | None]:
    """The project's evaluated performance (base + edit layers) and its FLAME file, if it uses one."""
    from mmface_studio.core.document import load_project

    project = load_project(path)
    if project.base is None:
        raise ExportCommandError(f"{Path(path).name} has no generated performance yet; generate it first.")
    flame = None if project.rig in ("default", "", None) else str(project.rig)
    return project.evaluate(), flame


def _rig_for(perf: Any, flame: str | None) -> Any:
    """The rig that shows this performance: FLAME for flame56 (needs --flame), the built-in head for arkit52."""
    from mmface_studio.rig.loading import load_rig

    if perf.space.name == "flame56" and not flame:
        raise ExportCommandError("this is a flame56 performance: give the FLAME model to show it on with --flame FILE.")
    if flame and perf.space.name != "flame56":
        raise ExportCommandError(f"--flame shows flame56 performances, but this one is {perf.space.name}; "
                                 "leave out --flame to export it on the built-in head.")
    return load_rig(flame)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m mmface_studio.cli_export export ...``), the same as the main CLI's."""
    parser = argparse.ArgumentParser(prog="mmface-studio")
    add_export_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return _export(args)
    except ExportCommandError as exc:
        print(f"mmface-studio: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
