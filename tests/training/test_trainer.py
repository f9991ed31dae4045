"""The shared training loop: loss goes down, resume is exact, 2-process gloo DDP equals one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmface_studio.training.trainer import LOG_FILE, STATE_FILE, TrainConfig, Trainer
from tests.training.toy_task import ToyData, ToyModel, ToyTask

REPO = Path(__file__).resolve().parents[2]


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / STATE_FILE, weights_only=True)["model"]


def test_loss_goes_down_and_logs_are_written(tmp_path: Path) -> None:
    config = TrainConfig(steps=40, batch_size=8, lr=1e-2, warmup_steps=2, log_every=5)
    result = Trainer(ToyTask(), ToyModel(), ToyData(), tmp_path, config, progress=None).train()
    records = [json.loads(line) for line in (tmp_path / LOG_FILE).read_text().splitlines()]
    first = records[0]["head/mse"]
    assert result.steps == 40
    assert result.last_losses["mse"] < 0.5 * first
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "logs").iterdir())


def test_first_phase_trains_only_its_parameters(tmp_path: Path) -> None:
    model = ToyModel()
    before = model.first.weight.detach().clone()
    config = TrainConfig(steps=10, batch_size=8, lr=1e-2, warmup_steps=1, log_every=5)
    trainer = Trainer(ToyTask(), model, ToyData(), tmp_path, config, progress=None)
    assert trainer.phases[0].steps == 5  # the "head" phase: steps 0..4
    trainer.config = TrainConfig(**{**config.__dict__, "steps": 5})  # stop at the end of it
    trainer.train()
    assert torch.equal(model.first.weight, before)


def test_resume_continues_from_the_same_step_with_the_same_result(tmp_path: Path) -> None:
    config = TrainConfig(steps=12, batch_size=8, lr=1e-2, warmup_steps=2, log_every=1, checkpoint_every=100)
    straight = tmp_path / "straight"
    Trainer(ToyTask(), ToyModel(), ToyData(), straight, config, progress=None).train()

    split = tmp_path / "split"
    first = Trainer(ToyTask(), ToyModel(), ToyData(), split, config, progress=None)
    first.config = TrainConfig(**{**config.__dict__, "steps": 7})  # interrupted after 7 steps
    first.train()
    assert torch.load(split / STATE_FILE, weights_only=True)["step"] == 7
    second = Trainer(ToyTask(), ToyModel(), ToyData(), split, config, progress=None)
    second.train(resume=True)
    assert second.step == 12
    for name, value in _weights(straight).items():
        torch.testing.assert_close(_weights(split)[name], value, rtol=1e-5, atol=1e-6)


def test_resume_without_state_says_so(tmp_path: Path) -> None:
    trainer = Trainer(ToyTask(), ToyModel(), ToyData(), tmp_path, TrainConfig(steps=4, batch_size=4), progress=None)
    with pytest.raises(FileNotFoundError, match="No training state"):
        trainer.train(resume=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_ddp_equals_one_process_with_double_batch(tmp_path: Path) -> None:
    single = tmp_path / "single"
    config = TrainConfig(steps=10, batch_size=8, lr=1e-2, warmup_steps=2, log_every=1, checkpoint_every=5)
    Trainer(ToyTask(), ToyModel(), ToyData(), single, config, progress=None).train()

    ddp = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(_free_port()), str(REPO / "tests" / "training" / "toy_task.py"), str(ddp), "--steps", "10",
           "--batch", "4"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    for name, value in _weights(single).items():
        torch.testing.assert_close(_weights(ddp)[name], value, rtol=1e-4, atol=1e-5)
