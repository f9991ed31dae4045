"""``mmface-studio evaluate GENERATED REFERENCE``: how close a take is to a reference, in millimetres.

Both inputs are performance files written by ``generate`` (.npz/.json) or projects (.mmfs: the
base plus edit layers, as exported). The generated take is resampled to the reference's fps and
both are cut to their common length. Reported (see ``training.metrics``): LVE, lip mean error,
FVE, face and upper-face max errors on the head (the built-in head for arkit52, a FLAME head
given with ``--flame`` for flame56), the RMS difference of the face channels and of the head
rotation, and per take the lip-gap and jaw jitter, plus the /p b m/ closure rate when the speech
is given with ``--audio`` (its phones are recognised, or aligned with ``--transcript``).

Like ``export`` this module imports only argparse until the command runs, and every failure is one
line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

INPUTS = ".npz, .json (from generate) or .mmfs (project)"


class EvaluateCommandError(Exception):
    """A user-facing failure of ``evaluate``: printed as one line, exit code 2."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``evaluate`` on the main parser's subcommands (``cli.build_parser``)."""
    parser = subparsers.add_parser(
        "evaluate", help="compare a generated performance with a reference (LVE, FVE, ... in mm)",
        description="Compare a generated performance with a reference one: vertex errors in millimetres on the "
                    "head, channel differences, jitter and, given the speech, /p b m/ closure.")
    parser.add_argument("generated", help=f"the take to judge: {INPUTS}")
    parser.add_argument("reference", help=f"the reference (ground truth): {INPUTS}")
    parser.add_argument("--flame", help="FLAME model file: measure flame56 performances on this head")
    parser.add_argument("--audio", help="the speech both takes are for: enables the /p b m/ closure rate")
    parser.add_argument("--transcript", help="what is said (text or a file): aligns the phones instead of "
                                             "recognising them")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=cmd_evaluate)
    return parser


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run the evaluation; failures become the main CLI's one-line error (``cli.CliError``)."""
    try:
        return _evaluate(args)
    except EvaluateCommandError as exc:
        try:
            from mmface_studio.cli import CliError
        except ImportError:  # pragma: no cover - cli.py always exists in the package
            raise exc from None
        raise CliError(str(exc)) from None


def _evaluate(args: argparse.Namespace) -> int:
    try:
        report = evaluate_files(args.generated, args.reference, flame=args.flame, audio=args.audio,
                                transcript=args.transcript)
    except EvaluateCommandError:
        raise
    except KeyboardInterrupt:
        raise EvaluateCommandError("evaluate interrupted.") from None
    except Exception as exc:  # every failure is one line for the user (the message names the cause)
        raise EvaluateCommandError(_describe(exc)) from None
    if args.json:
        print(json.dumps(_finite(report), indent=2))
    else:
        print(format_table(report))
    return 0


def _describe(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename}"
    text = str(exc).strip() or type(exc).__name__
    known = {"PerformanceFileError", "ProjectFileError", "RigError", "FlameModelError", "SpaceError", "AudioError"}
    if not any(cls.__name__ in known for cls in type(exc).__mro__):
        text = f"{type(exc).__name__}: {text}"
    return text.splitlines()[0]


def _finite(value: Any) -> Any:
    """JSON has no NaN: metrics that do not apply become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def load_take(path: str | Path) -> tuple[Any, str | None]:
    """A performance from .npz/.json, or a project's evaluated performance; and the project's FLAME file."""
    src = Path(path)
    if src.suffix.lower() == ".mmfs":
        from mmface_studio.core.document import load_project

        project = load_project(src)
        if project.base is None:
            raise EvaluateCommandError(f"{src.name} has no generated performance yet; generate it first.")
        flame = None if project.rig in ("default", "", None) else str(project.rig)
        return project.evaluate(), flame
    if src.suffix.lower() not in (".npz", ".json"):
        raise EvaluateCommandError(f"{src.name}: expected {INPUTS}.")
    from mmface_studio.core.performance_io import load_performance

    return load_performance(src), None


def _rig_for(space: str, flame: str | None) -> Any:
    from mmface_studio.rig.loading import load_rig

    if space == "flame56" and not flame:
        raise EvaluateCommandError("these are flame56 performances: give the FLAME model to measure them on with "
                                   "--flame FILE.")
    if space != "flame56" and flame:
        raise EvaluateCommandError(f"--flame measures flame56 performances, but these are {space}; leave it out.")
    return load_rig(flame)


def _phones(audio: str, transcript: str | None) -> tuple[Any, ...]:
    from mmface_studio.audio import compute_features, load_audio
    from mmface_studio.audio.phonetic import analyse_speech
    from mmface_studio.engine.request import Analysis

    if transcript and Path(transcript).is_file():
        transcript = Path(transcript).read_text(encoding="utf-8", errors="replace").strip()
    clip = load_audio(audio)
    track = analyse_speech(clip.analysis, transcript or None)
    return Analysis.from_track(track, compute_features(clip), duration=clip.duration).phones


def _rms(a: Any, b: Any) -> float:
    import numpy as np

    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))) if a.size else 0.0


def evaluate_files(generated: str | Path, reference: str | Path, *, flame: str | None = None,
                   audio: str | None = None, transcript: str | None = None) -> dict[str, Any]:
    """The report ``evaluate`` prints, as a dict (NaN where a metric does not apply)."""
    import numpy as np

    from mmface_studio.core.performance import Performance
    from mmface_studio.engine.models.base import face_channel_names, pose_channel_names
    from mmface_studio.training import metrics

    gen, gen_flame = load_take(generated)
    ref, ref_flame = load_take(reference)
    if gen.space.name != ref.space.name:
        raise EvaluateCommandError(f"the generated take is {gen.space.name} and the reference {ref.space.name}; "
                                   "convert one of them first.")
    rig = _rig_for(ref.space.name, flame or ref_flame or gen_flame)
    gen_values, ref_values, fps = metrics.align(gen, ref)
    if gen_values.shape[1] == 0:
        raise EvaluateCommandError("the takes have no frames in common.")
    errors = metrics.vertex_errors(gen, ref, rig)
    space = ref.space
    face = [space.index[n] for n in face_channel_names(space.name)]
    pose = [space.index[n] for n in pose_channel_names(space.name)]
    comparison = {k: v for k, v in errors.as_dict().items() if k not in ("frames", "fps")} | {
        "face_channel_rms": _rms(gen_values[face], ref_values[face]),
        "head_rotation_rms_deg": math.degrees(_rms(gen_values[pose], ref_values[pose])),
    }
    phones = _phones(audio, transcript) if audio else None
    gen_aligned = Performance(fps, space, np.ascontiguousarray(gen_values), dict(gen.provenance))
    return {
        "generated": str(generated), "reference": str(reference), "space": space.name, "fps": fps,
        "frames": int(gen_values.shape[1]), "rig": rig.name, "comparison": comparison,
        "generated_quality": metrics.lipsync_quality(gen_aligned, rig, phones),
        "reference_quality": metrics.lipsync_quality(ref, rig, phones),
    }


_LABELS = {
    "lve_mm": "LVE, lip max error (mm)", "lip_mean_mm": "lip mean error (mm)", "fve_mm": "FVE, face mean error (mm)",
    "face_max_mm": "face max error (mm)", "upper_face_max_mm": "upper-face max error (mm)",
    "face_channel_rms": "face channels RMS difference", "head_rotation_rms_deg": "head rotation RMS difference (deg)",
    "closure_rate": "/p b m/ closure rate", "lip_gap_jitter_mm": "lip-gap jitter (mm/frame)",
    "jaw_jitter": "jaw jitter (per frame)",
}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def format_table(report: dict[str, Any]) -> str:
    """The report as aligned text: the comparison, then each take's own quality side by side."""
    lines = [f"{report['generated']} vs {report['reference']}: {report['frames']} frames at {report['fps']:g} fps, "
             f"{report['space']} on {report['rig']}", ""]
    for key, value in report["comparison"].items():
        if key in _LABELS:
            lines.append(f"  {_LABELS[key]:<38}{_cell(value):>12}")
    lines += ["", f"  {'':<38}{'generated':>12}{'reference':>12}"]
    for key in report["generated_quality"]:
        lines.append(f"  {_LABELS.get(key, key):<38}{_cell(report['generated_quality'][key]):>12}"
                     f"{_cell(report['reference_quality'][key]):>12}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m mmface_studio.cli_evaluate evaluate ...``), the same as the main CLI's."""
    parser = argparse.ArgumentParser(prog="mmface-studio")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return _evaluate(args)
    except EvaluateCommandError as exc:
        print(f"mmface-studio: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
