"""One training loop for every family: phases, exact resume, DDP, mixed precision, TensorBoard logs.

A family says *what* to optimise through a :class:`TrainingTask` (its phases, e.g. "VQ-VAE
then generator", and a loss per batch); this module owns *how*: batching, the optimiser and
learning-rate schedule, gradient clipping, autocast on CUDA, checkpoints that resume at the same
step with the same data order, DistributedDataParallel under torchrun, logs and an ETA.

Data order is a pure function of (seed, epoch): every epoch draws the permutation
``DistributedSampler`` draws (seeded by seed + epoch), cuts it into global batches of
``batch_size x world`` and rank r takes the r-th contiguous slice of each. So two processes with
batch B see, step for step, the same examples in the same order as one process with batch 2B,
and (losses being batch means, DDP averaging gradients, codebook statistics gathered over ranks
by ``engine.models.layers.global_rows``) make the same update: that is how multi-process training
is tested on CPU with gloo.

The task's loss runs *inside* DDP's forward (:class:`_TaskLoss`): DDP only all-reduces gradients
of a backward that follows its own forward, and tasks call sub-modules (encoder, content network,
emotion predictor) rather than ``model(...)``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from mmface_studio.training.distributed import DistContext, all_reduce_mean, barrier, init_distributed

STATE_FILE = "train_state.pt"
LOG_FILE = "train_log.jsonl"


@dataclass(frozen=True)
class Phase:
    """A stretch of training with its own optimiser over a subset of the parameters."""

    name: str
    steps: int
    parameters: Callable[[nn.Module], Iterable[nn.Parameter]] | None = None  # None: all
    lr: float | None = None  # None: the run's learning rate


class TrainingTask(Protocol):
    """What a family contributes to training."""

    family: str

    def phases(self, total_steps: int) -> list[Phase]: ...

    def loss(self, model: nn.Module, batch: dict[str, Any], phase: str) -> dict[str, torch.Tensor]:
        """Scalar losses for a batch; ``"loss"`` is optimised, the others are logged.

        ``model`` is always the plain model (under DDP the wrapper is around this call), so a task
        may call its sub-modules directly.
        """
        ...


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    batch_size: int = 8  # per process
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 50
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 200
    amp: bool = True  # autocast (bfloat16) on CUDA; ignored on CPU
    num_workers: int = 0


@dataclass
class TrainResult:
    steps: int
    seconds: float
    last_losses: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)


class _TaskLoss(nn.Module):
    """``forward(batch, phase)`` = the task's losses on ``model``: the module DDP wraps."""

    def __init__(self, task: TrainingTask, model: nn.Module) -> None:
        super().__init__()
        self.task, self.model = task, model

    def forward(self, batch: dict[str, Any], phase: str) -> dict[str, torch.Tensor]:
        return self.task.loss(self.model, batch, phase)


def _phase_at(phases: list[Phase], step: int) -> tuple[int, Phase, int]:
    """(index, phase, first global step of the phase) for global ``step``."""
    start = 0
    for i, phase in enumerate(phases):
        if step < start + phase.steps or i == len(phases) - 1:
            return i, phase, start
        start += phase.steps
    raise ValueError("A training task must declare at least one phase.")


def _schedule(step_in_phase: int, phase_steps: int, warmup: int) -> float:
    """Linear warm-up then cosine decay to 10%, restarted per phase (each phase trains new parts)."""
    warm = min(warmup, max(phase_steps // 10, 1))
    if step_in_phase < warm:
        return (step_in_phase + 1) / warm
    progress = (step_in_phase - warm) / max(phase_steps - warm, 1)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def _format_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


class Trainer:
    """Trains ``model`` on ``dataset`` for ``task``; writes state, logs and final weights to ``out``."""

    def __init__(self, task: TrainingTask, model: nn.Module, dataset: Dataset, out: str | Path,
                 config: TrainConfig, *, collate: Callable[[list[Any]], Any] | None = None,
                 ctx: DistContext | None = None, progress: Callable[[str], None] | None = print) -> None:
        self.task, self.dataset, self.config = task, dataset, config
        self.out = Path(out)
        self.ctx = ctx or init_distributed("cpu" if not torch.cuda.is_available() else None)
        self.collate = collate
        self.progress = progress if self.ctx.is_main else None
        self.phases = task.phases(config.steps)
        if sum(p.steps for p in self.phases) != config.steps:
            raise ValueError("The task's phases must add up to the configured number of steps.")
        torch.manual_seed(config.seed)
        prepare = getattr(task, "prepare", None)
        if prepare is not None:  # data statistics a model keeps in buffers (normalisation): before DDP copies
            prepare(model, dataset)
        self.module = model.to(self.ctx.device)  # the unwrapped model (what is saved and handed to the task)
        self.loss_module: nn.Module = _TaskLoss(task, self.module)
        if self.ctx.distributed:
            ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
            self.loss_module = nn.parallel.DistributedDataParallel(self.loss_module, device_ids=ids,
                                                               find_unused_parameters=True)
        self.step = 0
        self._optimizer: torch.optim.Optimizer | None = None
        self._phase_index = -1
        self._writer: Any = None

    # --- data -----------------------------------------------------------------------------------------------

    def _batches_per_epoch(self) -> int:
        count = len(self.dataset) // (self.config.batch_size * self.ctx.world_size)
        if count == 0:
            raise ValueError(f"The dataset has {len(self.dataset)} examples: too few for {self.ctx.world_size} "
                             f"process(es) with batch size {self.config.batch_size}.")
        return count

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches: its contiguous slice of each global batch of the epoch's permutation."""
        sampler = DistributedSampler(self.dataset, num_replicas=1, rank=0, shuffle=True, seed=self.config.seed,
                                     drop_last=True)
        sampler.set_epoch(epoch)
        indices = list(sampler)
        size, world = self.config.batch_size, self.ctx.world_size
        mine = slice(self.ctx.rank * size, (self.ctx.rank + 1) * size)
        return [indices[i:i + size * world][mine] for i in range(0, self._batches_per_epoch() * size * world,
                                                                 size * world)]

    def _batches_from(self, step: int) -> Iterator[Any]:
        """Batches from global ``step`` on, exactly as an uninterrupted run would see them."""
        per_epoch = self._batches_per_epoch()
        epoch, offset = divmod(step, per_epoch)
        while True:
            batches = self._epoch_batches(epoch)[offset:]
            set_epoch = getattr(self.dataset, "set_epoch", None)
            if set_epoch is not None:  # crops are a function of (seed, index, epoch): see datasets.CropEpochs
                set_epoch(epoch)
            loader = DataLoader(self.dataset, batch_sampler=batches, collate_fn=self.collate,
                                num_workers=self.config.num_workers)
            yield from loader
            epoch, offset = epoch + 1, 0

    def _to_device(self, batch: Any) -> Any:
        if isinstance(batch, torch.Tensor):
            return batch.to(self.ctx.device, non_blocking=True)
        if isinstance(batch, dict):
            return {k: self._to_device(v) for k, v in batch.items()}
        if isinstance(batch, (list, tuple)):
            return type(batch)(self._to_device(v) for v in batch)
        return batch

    # --- optimisation ---------------------------------------------------------------------------------------

    def _enter_phase(self, index: int) -> None:
        phase = self.phases[index]
        # Parameters outside the phase are not frozen (DDP registers its hooks once); the phase's
        # loss simply does not reach them (tasks run frozen parts under no_grad) and the optimiser
        # only holds the phase's own.
        params = list(phase.parameters(self.module)) if phase.parameters else list(self.module.parameters())
        self._optimizer = torch.optim.AdamW(params, lr=phase.lr or self.config.lr,
                                            weight_decay=self.config.weight_decay)
        self._phase_index = index

    def _autocast(self) -> Any:
        if self.config.amp and self.ctx.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    # --- state ----------------------------------------------------------------------------------------------

    def save_state(self) -> Path:
        """Everything needed to continue at this exact step (rank 0 writes; all ranks wait)."""
        path = self.out / STATE_FILE
        if self.ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            state = {"step": self.step, "phase": self._phase_index, "model": self.module.state_dict(),
                     "optimizer": self._optimizer.state_dict() if self._optimizer else {},
                     "config": json.dumps(asdict(self.config)), "family": self.task.family}
            tmp = path.with_suffix(".part")
            torch.save(state, tmp)
            os.replace(tmp, path)
        barrier(self.ctx)
        return path

    def load_state(self) -> None:
        """Resume from ``out/train_state.pt`` (tensors and plain values only: ``weights_only=True``)."""
        path = self.out / STATE_FILE
        if not path.exists():
            raise FileNotFoundError(f"No training state to resume in {self.out} (expected {STATE_FILE}).")
        state = torch.load(path, map_location=self.ctx.device, weights_only=True)
        if state.get("family") != self.task.family:
            raise ValueError(f"{path} holds a {state.get('family')!r} run, not {self.task.family!r}.")
        self.module.load_state_dict(state["model"])
        self.step = int(state["step"])
        index = _phase_at(self.phases, min(self.step, self.config.steps - 1))[0]
        self._enter_phase(index)
        if state["optimizer"] and int(state["phase"]) == index:
            self._optimizer.load_state_dict(state["optimizer"])

    # --- loop -----------------------------------------------------------------------------------------------

    def _log(self, record: dict[str, float]) -> None:
        if not self.ctx.is_main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / LOG_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard missing: the JSON log still has everything
                self._writer = False
            else:
                self._writer = SummaryWriter(str(self.out / "logs"))
        if self._writer:
            for key, value in record.items():
                if key not in ("step", "seconds"):
                    self._writer.add_scalar(key, value, int(record["step"]))

    def train(self, resume: bool = False) -> TrainResult:
        if resume:
            self.load_state()
        started = time.perf_counter()
        first_step = self.step
        history: list[dict[str, float]] = []
        last: dict[str, float] = {}
        batches = self._batches_from(self.step)
        self.module.train()
        while self.step < self.config.steps:
            index, phase, phase_start = _phase_at(self.phases, self.step)
            if index != self._phase_index:
                self._enter_phase(index)
            assert self._optimizer is not None
            scale = _schedule(self.step - phase_start, phase.steps, self.config.warmup_steps)
            for group in self._optimizer.param_groups:
                group["lr"] = (phase.lr or self.config.lr) * scale
            batch = self._to_device(next(batches))
            with self._autocast():
                losses = self.loss_module(batch, phase.name)
            loss = losses["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(f"The {phase.name} loss became {loss.item()} at step {self.step}; "
                                         "lower the learning rate or check the data (data check).")
            self.module.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.grad_clip > 0:
                nn.utils.clip_grad_norm_([p for g in self._optimizer.param_groups for p in g["params"]],
                                         self.config.grad_clip)
            self._optimizer.step()
            self.step += 1
            last = {k: float(all_reduce_mean(v.detach().float(), self.ctx)) for k, v in losses.items()}
            if self.step % self.config.log_every == 0 or self.step == self.config.steps:
                elapsed = time.perf_counter() - started
                rate = (self.step - first_step) / max(elapsed, 1e-9)
                record = {"step": self.step, "seconds": elapsed, "lr": self._optimizer.param_groups[0]["lr"],
                          **{f"{phase.name}/{k}": v for k, v in last.items()}}
                history.append(record)
                self._log(record)
                if self.progress:
                    eta = (self.config.steps - self.step) / max(rate, 1e-9)
                    parts = " ".join(f"{k} {v:.4f}" for k, v in last.items())
                    self.progress(f"step {self.step}/{self.config.steps} [{phase.name}] {parts} "
                                  f"{rate:.2f} step/s eta {_format_eta(eta)}")
            if self.step % self.config.checkpoint_every == 0 and self.step < self.config.steps:
                self.save_state()
        self.save_state()
        if self._writer:
            self._writer.flush()
        return TrainResult(self.step, time.perf_counter() - started, last, history)
