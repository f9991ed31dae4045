"""``mmface-studio train FAMILY --data DIR --out DIR [--resume]``: train a family, write a checkpoint.

Works alone (``python -m mmface_studio train ...``) and under torchrun for several GPUs or nodes
(``torchrun --nproc_per_node 4 -m mmface_studio train ...``): the trainer reads the torchrun
environment. The result is ``OUT/NAME.safetensors`` + ``NAME.json`` (the checkpoint format of
``engine.checkpoints``) and a first model card ``NAME.md`` stating data, steps, wall time and
hardware; held-out metrics are added by ``training.report``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

FAMILY_NAMES = ("audio2flame", "resnet1d", "pose", "mm2face")


class TrainError(Exception):
    """A training run cannot start (bad data folder, bad options); the message says why."""


def open_dataset(root: str | Path, split: str | None, max_seconds: float | None, seed: int) -> Any:
    """The dataset in ``root`` whatever its layout: synthetic corpus, FLAME (MMHead) or ARKit CSV."""
    import torch

    from mmface_studio.training import data_check as layout_io
    from mmface_studio.training.datasets import ArkitCsvDataset, FlameDataset, SyntheticDataset

    path = Path(root)
    generator = torch.Generator().manual_seed(seed)
    if (path / "index.json").is_file():
        return SyntheticDataset(path, split=split, max_seconds=max_seconds, generator=generator)
    try:
        layout = layout_io.read_layout(path)
    except layout_io.LayoutError as exc:
        raise TrainError(f"{path} is neither a synthetic corpus (index.json) nor a dataset folder: {exc}") from None
    cls = FlameDataset if layout.format == "flame" else ArkitCsvDataset
    return cls(path, split=split, max_seconds=max_seconds, generator=generator)


#: "small": sizes that train in minutes on a 2-core CPU (the shipped checkpoints); "default": the
#: configs' own sizes (<= 20 MB each), meant for a GPU.
SMALL: dict[str, dict[str, Any]] = {
    "audio2flame": {"content_dim": 96, "style_dim": 32, "style_layers": 2, "style_ff": 96, "hidden": 96,
                    "emotion_hidden": 64, "emotion_embed": 64},
    "resnet1d": {"channels": 64, "decoder_blocks": 4, "style_channels": 64, "n_features": 32},
    "pose": {"codebook_size": 128, "code_dim": 32, "d_model": 64, "ff_dim": 192, "vq_layers": 2, "gen_layers": 3,
             "rhythm_channels": 32},
    "mm2face": {"codebook_size": 256, "code_dim": 32, "vq_width": 64, "d_model": 128, "n_layers": 3, "d_ff": 256},
}


def build_model(family: str, space: str, size: str) -> Any:
    from mmface_studio.engine.models.base import families

    cls = families()[family]
    extra: dict[str, Any] = {"space": space}
    if size == "small":
        return cls(cls.config_class(**extra, **SMALL[family]))
    if size == "tiny":
        extra.update(audio_dim=80)
        if family == "mm2face":
            extra["text_dim"] = 384
        return cls(cls.config_class.tiny(**extra))
    return cls(cls.config_class(**extra))


def _hardware(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def _data_summary(dataset: Any) -> dict[str, Any]:
    index = getattr(dataset, "index", None)
    if isinstance(index, dict):  # synthetic corpus
        totals = index.get("totals", {})
        voices = [v for v in index.get("voices", []) if v.get("split") == "train"]
        return {"kind": "synthetic corpus (classic-engine targets, TTS voices; not captured faces)",
                "seed": index.get("seed"), "totals": totals, "examples_in_split": len(dataset),
                "train_minutes": totals.get("split_seconds", {}).get("train", 0.0) / 60.0,
                "train_voices": len(voices), "targets": index.get("targets")}
    return {"kind": type(dataset).__name__, "examples_in_split": len(dataset)}


def write_card(stem: Path, info: dict[str, Any]) -> Path:
    """A model card in Markdown from the run's facts (``training.report`` appends held-out metrics)."""
    data = info["training_data"]
    lines = [
        f"# {stem.name}", "",
        f"Family: **{info['family']}** ({info['space']}, {info['fps']:g} fps, {info['feature_type']} features), "
        f"{info['parameters']:,} parameters, {info['size_mb']:.1f} MB.", "",
        "## Training", "",
        f"- Data: {data['kind']}; {data['examples_in_split']} training examples"
        + (f", {data['train_minutes']:.1f} min, from {data['train_voices']} voices (held-out voices and "
           "sentences are never trained on)." if "train_minutes" in data else "."),
        f"- Steps: {info['steps']} (batch {info['batch_size']} per process x {info['world_size']} process(es)); "
        f"wall time {info['wall_seconds'] / 60:.1f} min on {info['hardware']}.",
        f"- Final training losses: {', '.join(f'{k} {v:.4f}' for k, v in info['final_losses'].items())}.",
        *([f"- Targets: {info['targets']}."] if info.get("targets") else []), "",
        "The targets are synthetic: the classic phonetic engine's output on TTS speech with random emotion "
        "and head-motion programs. The model learns to imitate that engine, not captured human faces.", "",
    ]
    path = stem.with_suffix(".md")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def cmd_train(args: argparse.Namespace) -> int:
    """Run training; a bad data folder or option becomes the main CLI's one-line error."""
    from mmface_studio.cli import CliError

    try:
        return _train(args)
    except TrainError as exc:
        raise CliError(str(exc)) from None


def _train(args: argparse.Namespace) -> int:
    import torch

    from mmface_studio.engine.checkpoints import save_checkpoint
    from mmface_studio.training.datasets import collate
    from mmface_studio.training.distributed import init_distributed, shutdown_distributed
    from mmface_studio.training.tasks import TASKS
    from mmface_studio.training.trainer import TrainConfig, Trainer

    if args.family not in FAMILY_NAMES:
        raise TrainError(f"Unknown family {args.family!r}; choose one of {', '.join(FAMILY_NAMES)}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    ctx = init_distributed(args.device)
    dataset = open_dataset(args.data, args.split, args.max_seconds, args.seed)
    if len(dataset) == 0:
        raise TrainError(f"{args.data} has no examples in split {args.split!r}.")
    torch.manual_seed(args.seed)  # the initial weights depend only on the seed (every rank, every run)
    model = build_model(args.family, args.space or dataset.space, args.size)
    config = TrainConfig(steps=args.steps, batch_size=args.batch, lr=args.lr, seed=args.seed,
                         log_every=args.log_every, checkpoint_every=args.checkpoint_every)
    out = Path(args.out)
    trainer = Trainer(TASKS[args.family](), model, dataset, out, config, collate=collate, ctx=ctx)
    started = time.perf_counter()
    result = trainer.train(resume=args.resume)
    wall = time.perf_counter() - started
    if ctx.is_main:
        name = args.name or f"{args.family}-{model.config.space}"
        stem = out / name
        training = {**_data_summary(dataset), "steps": result.steps, "wall_seconds": round(wall, 1),
                    "hardware": _hardware(ctx.device), "world_size": ctx.world_size}
        info = save_checkpoint(trainer.module, stem, metadata={
            "fps": float(model.config.fps), "feature_type": "logmel80", "training_data": training,
            "metrics": {"final_training_losses": result.last_losses}})
        size_mb = stem.with_suffix(".safetensors").stat().st_size / 1e6
        write_card(stem, {"family": args.family, "space": model.config.space, "fps": model.config.fps,
                          "feature_type": "logmel80", "parameters": info.parameter_count, "size_mb": size_mb,
                          "training_data": training, "steps": result.steps, "batch_size": args.batch,
                          "world_size": ctx.world_size, "wall_seconds": wall, "hardware": training["hardware"],
                          "final_losses": result.last_losses,
                          "targets": getattr(trainer.task, "targets", "")})
        print(json.dumps({"checkpoint": str(stem.with_suffix(".safetensors")), "steps": result.steps,
                          "wall_seconds": round(wall, 1), "size_mb": round(size_mb, 2),
                          "final_losses": result.last_losses,
                          "targets": getattr(trainer.task, "targets", "")}))
    shutdown_distributed()
    return 0


def add_parser(sub: Any) -> None:
    train = sub.add_parser("train", help="train a neural family on a corpus or dataset folder (torchrun for DDP)")
    train.add_argument("family", help=f"one of {', '.join(FAMILY_NAMES)}")
    train.add_argument("--data", required=True, help="synthetic corpus or dataset folder (see docs/datasets.md)")
    train.add_argument("--out", required=True, help="folder for the training state, logs and the checkpoint")
    train.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    train.add_argument("--steps", type=int, default=2000)
    train.add_argument("--batch", type=int, default=16, help="batch size per process")
    train.add_argument("--lr", type=float, default=3e-4)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--space", choices=("arkit52", "flame56"), help="default: the data's space")
    train.add_argument("--size", choices=("default", "small", "tiny"), default="default", help="model size")
    train.add_argument("--split", default="train")
    train.add_argument("--max-seconds", type=float, default=6.0, help="random crop length per example")
    train.add_argument("--device", choices=("cpu", "cuda"), help="default: CUDA when available")
    train.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    train.add_argument("--name", help="checkpoint name (default FAMILY-SPACE)")
    train.add_argument("--log-every", type=int, default=20)
    train.add_argument("--checkpoint-every", type=int, default=200)
    train.set_defaults(func=cmd_train)
