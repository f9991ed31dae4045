"""A toy regression task for trainer tests; also a script for torchrun (``python -m torch.distributed.run``)."""

from __future__ import annotations

import argparse
import sys

import torch
from torch import nn
from torch.utils.data import Dataset

from mmface_studio.training.trainer import Phase, TrainConfig, Trainer


class ToyData(Dataset):
    def __init__(self, n: int = 64) -> None:
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(n, 8, generator=g)
        self.y = self.x @ torch.linspace(-1, 1, 8 * 2, dtype=torch.float32).reshape(8, 2) + 0.3

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


class ToyModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first = nn.Linear(8, 16)
        self.second = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(torch.tanh(self.first(x)))


class ToyTask:
    family = "toy"

    def phases(self, total_steps: int) -> list[Phase]:
        half = total_steps // 2
        return [Phase("head", half, lambda m: m.second.parameters()), Phase("all", total_steps - half)]

    def loss(self, model: nn.Module, batch: dict, phase: str) -> dict[str, torch.Tensor]:
        mse = ((model(batch["x"]) - batch["y"]) ** 2).mean()
        return {"loss": mse, "mse": mse}


def run(out: str, steps: int, batch: int) -> Trainer:
    config = TrainConfig(steps=steps, batch_size=batch, lr=1e-2, warmup_steps=2, log_every=1, checkpoint_every=5)
    trainer = Trainer(ToyTask(), ToyModel(), ToyData(), out, config, progress=None)
    trainer.train()
    return trainer


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    run(args.out, args.steps, args.batch)
    sys.exit(0)
