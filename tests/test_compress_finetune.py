"""Fine-tuning with focused quantization: schedules, loss goes down, masks, checkpoint/resume, DDP (gloo)."""

import json
import os
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fq_hls.compress.ddp import spawn_local
from fq_hls.compress.finetune import FinetuneConfig, finetune, fraction_at, lr_at, refit_epochs
from fq_hls.compress.focused import attach_quantizers, export_quantized
from fq_hls.errors import InputError, ModelFileError

torch.set_num_threads(1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def problem(n=192, seed=0):
    """Labels from a fixed random teacher: learnable, not trivial."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, 4, 4, generator=g)
    teacher = torch.randn(3, 2 * 4 * 4, generator=g)
    y = (x.flatten(1) @ teacher.T).argmax(1)
    return TensorDataset(x, y)


def setup(seed=0, methods=("fq5", "shift5")):
    torch.manual_seed(seed)
    model = Net()
    masks = {}
    for name in ("conv", "fc"):
        w = getattr(model, name).weight.detach()
        masks[name] = w.abs() > w.abs().median()  # 50 % pruned
    ql = attach_quantizers(model, dict(zip(("conv", "fc"), methods, strict=True)), masks, seed=seed)
    return model, ql, masks


def loader(ds, bs=32):
    return DataLoader(ds, batch_size=bs, shuffle=True)


def test_schedules():
    cfg = FinetuneConfig(epochs=10)
    assert [fraction_at(e, cfg) for e in range(10)] == [0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 0.875, 0.875, 1.0, 1.0]
    short = FinetuneConfig(epochs=2)
    assert [fraction_at(e, short) for e in range(2)] == [0.25, 1.0]
    assert refit_epochs(FinetuneConfig(epochs=20, refit_every=2)) == [2, 4, 8, 16]
    assert refit_epochs(FinetuneConfig(epochs=7, refit="every", refit_every=3)) == [3, 6]
    assert refit_epochs(FinetuneConfig(epochs=7, refit="never")) == []
    assert lr_at(0, cfg) == cfg.lr and lr_at(5, cfg) == pytest.approx(cfg.lr / 2)
    with pytest.raises(InputError):
        FinetuneConfig(epochs=3, inq_schedule=(0.5, 0.25, 1.0)).validate()


def test_finetune_lowers_the_loss_and_keeps_masks():
    model, ql, masks = setup()
    ds = problem()
    calls = []

    def ev(m):
        calls.append(1)
        with torch.no_grad():
            m.eval()
            acc = (m(ds.tensors[0]).argmax(1) == ds.tensors[1]).float().mean().item()
        return {"acc": acc}

    cfg = FinetuneConfig(epochs=6, lr=0.05, weight_decay=1e-4, refit_every=1, inq_schedule=(0.5, 1.0))
    out = finetune(model, ql, masks, loader(ds), cfg, eval_fn=ev)
    h = out["history"]
    assert [r["epoch"] for r in h] == list(range(1, 7)) and len(calls) == 6
    assert [r["fraction"] for r in h] == [0.5, 0.5, 0.5, 1.0, 1.0, 1.0]
    assert [r["refit"] for r in h] == [False, True, True, False, True, False]
    assert h[-1]["loss"] < 0.7 * h[0]["loss"]
    assert h[-1]["eval"]["acc"] > 0.6
    assert all(r["images"] == 192 and r["images_per_s"] > 0 for r in h)
    for name in ("conv", "fc"):
        mod = getattr(model, name)
        assert torch.all(mod.weight[~masks[name]] == 0) and torch.all(mod.weight[masks[name]] != 0)
        assert torch.all(mod.parametrizations.weight.original[~masks[name]] == 0)
    qw = export_quantized(model, ql)  # fully quantized at the end
    assert qw["conv"].nnz == int(masks["conv"].sum())
    assert ql["conv"].alpha.item() != 1.0  # the scale was learned


def _run(tmp_path, epochs, fail_at=None, resume=False):
    model, ql, masks = setup(seed=1)
    n = [0]

    def ev(m):
        n[0] += 1
        if fail_at is not None and n[0] == fail_at:
            raise KeyboardInterrupt("simulated crash")
        return 0.0

    cfg = FinetuneConfig(epochs=epochs, lr=0.05, refit="every", checkpoint=str(tmp_path / "ck.pt"), resume=resume)
    out = finetune(model, ql, masks, loader(problem(seed=2)), cfg, eval_fn=ev)
    return model, out


def test_checkpoint_resume_reproduces_an_uninterrupted_run(tmp_path):
    ref_model, ref_out = _run(tmp_path / "a", 4)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "b", 4, fail_at=3)  # dies in epoch 3, after the checkpoint of epoch 2
    torch.manual_seed(123)  # a different global RNG state must not matter
    model, out = _run(tmp_path / "b", 4, resume=True)
    assert out["resumed_from"] == 2
    assert [r["loss"] for r in out["history"]] == [r["loss"] for r in ref_out["history"]]
    ref, got = ref_model.state_dict(), model.state_dict()
    assert ref.keys() == got.keys()
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=0, atol=0, equal_nan=True, msg=k)


def test_resume_rejects_a_foreign_file(tmp_path):
    p = tmp_path / "ck.pt"
    torch.save({"hello": 1}, p)
    model, ql, masks = setup()
    cfg = FinetuneConfig(epochs=1, checkpoint=str(p), resume=True)
    with pytest.raises(ModelFileError, match="ck.pt"):
        finetune(model, ql, masks, loader(problem()), cfg)


class IndexBatches(torch.utils.data.Dataset):
    """A dataset indexed by whole index batches (like fq_hls.compress.data's loaders)."""

    def __init__(self, ds):
        self.x, self.y = ds.tensors

    def __len__(self):
        return len(self.y)

    def __getitem__(self, idx):
        return self.x[idx], self.y[idx]


def batch_loader(ds, bs=32):
    sampler = torch.utils.data.BatchSampler(
        torch.utils.data.RandomSampler(range(len(ds)), generator=torch.Generator()), bs, False)
    return DataLoader(IndexBatches(ds), sampler=sampler, batch_size=None)


def _ddp_worker(rank, out_dir):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")  # finetune joins an existing group and leaves it up
    for kind in ("plain", "index-batches"):
        model, ql, masks = setup(seed=3, methods=("fq5", "int8"))
        cfg = FinetuneConfig(epochs=2, lr=0.05, batch_size=32, checkpoint=str(out_dir / f"{kind}.pt"))
        data = problem(seed=4)
        res = finetune(model, ql, masks, loader(data) if kind == "plain" else batch_loader(data), cfg)
        assert res["world_size"] == 2 and dist.is_initialized()
        torch.save({"state": model.state_dict(), "history": res["history"]}, out_dir / f"{kind}-rank{rank}.pt")
    dist.destroy_process_group()


def test_ddp_gloo_two_ranks_end_identical(tmp_path):
    before = setup(seed=3, methods=("fq5", "int8"))[0].state_dict()
    spawn_local(_ddp_worker, 2, (tmp_path,))
    for kind in ("plain", "index-batches"):
        r0 = torch.load(tmp_path / f"{kind}-rank0.pt", weights_only=False)
        r1 = torch.load(tmp_path / f"{kind}-rank1.pt", weights_only=False)
        for k in r0["state"]:
            torch.testing.assert_close(r1["state"][k], r0["state"][k], rtol=0, atol=0, equal_nan=True, msg=k)
        key = "conv.parametrizations.weight.original"
        assert not torch.equal(r0["state"][key], before[key])  # it trained
        assert r0["history"][0]["images"] == 192  # both ranks' shards counted once
        assert (tmp_path / f"{kind}.pt").is_file()


def test_index_batch_loader_resume_single_process(tmp_path):
    def run(fail_at=None, resume=False):
        model, ql, masks = setup(seed=5)
        n = [0]

        def ev(m):
            n[0] += 1
            if n[0] == fail_at:
                raise KeyboardInterrupt
            return 0.0

        cfg = FinetuneConfig(epochs=3, lr=0.05, checkpoint=str(tmp_path / f"{fail_at or resume}.pt"), resume=resume)
        finetune(model, ql, masks, batch_loader(problem(seed=6)), cfg, eval_fn=ev)
        return model.state_dict()

    ref = run()
    with pytest.raises(KeyboardInterrupt):
        run(fail_at=2)
    (tmp_path / "2.pt").rename(tmp_path / "True.pt")
    got = run(resume=True)
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=0, atol=0, equal_nan=True, msg=k)


@pytest.mark.gpu
def test_cuda_amp_finetune_keeps_masks_and_exports():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    model, ql, masks = setup(seed=7)
    out = finetune(model, ql, masks, loader(problem()), FinetuneConfig(epochs=2, lr=0.05, device="cuda", amp=True))
    assert out["history"][-1]["loss"] > 0
    for name in ("conv", "fc"):
        w = getattr(model, name).weight.detach().cpu()
        assert torch.all(w[~masks[name]] == 0) and torch.all(w[masks[name]] != 0)
    qw = export_quantized(model, ql)
    for name in ("conv", "fc"):
        assert (qw[name].dequantize() == getattr(model, name).weight.detach().cpu().numpy()).all()


@pytest.mark.slow
def test_compress_under_torchrun_two_cpu_processes(tmp_path):
    """`torchrun --nproc_per_node 2 -m fq_hls.cli compress ... --epochs 1`: gloo DDP fine-tuning on the CPU;
    rank 0 alone writes the model."""
    import shutil
    import subprocess
    import sys

    pytest.importorskip("sklearn")
    from fq_hls.compress.models import build_model

    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    if not Path(torchrun).exists():
        pytest.skip("torchrun not found")
    torch.manual_seed(0)
    ckpt = tmp_path / "smallcnn.pt"
    torch.save(build_model("smallcnn", 10).state_dict(), ckpt)
    out = tmp_path / "ddp.fqz"
    r = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "fq_hls.cli", "compress",
                        "--arch", "smallcnn", "--weights", str(ckpt), "--method", "fq5", "--sparsity", "0.5",
                        "--epochs", "1", "--batch-size", "64", "--data", "digits", "--no-progress", "-o", str(out)],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('"compression_ratio"') == 1  # one report: rank 0's
    rep = json.loads(out.with_suffix(".json").read_text())
    assert rep["finetune"]["world_size"] == 2 and rep["epochs"] == 1
