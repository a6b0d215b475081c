"""A small CNN trained on scikit-learn's digits, shared by the end-to-end tests."""

from __future__ import annotations


def train_smallcnn(epochs: int, lr: float, seed: int = 0):
    """A float smallcnn trained with SGD + one-cycle for `epochs` on the digits training split (eval mode)."""
    import torch

    from fq_hls.compress.data import make_loader
    from fq_hls.compress.models import build_model
    from fq_hls.datasets import load_dataset

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    model = build_model("smallcnn", 10)
    loader = make_loader(load_dataset("digits", "train", "smallcnn"), "smallcnn", batch_size=64, train=True,
                         seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * len(loader))
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            sched.step()
    return model.eval()
