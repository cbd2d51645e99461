"""Train a tiny classifier on a dataset version with augmill's PyTorch loader, on the CPU.

    python examples/train_torch.py --root .                 # the version in this project
    python examples/train_torch.py --root . --rev HEAD~1    # an older version, through dvc.api
    python examples/train_torch.py --root . --on-the-fly    # originals only, the policy drawn per epoch

Images go to 16x16 greyscale and a linear layer learns them (seconds on the digits demo);
prints the test accuracy as JSON. Seeded: the same command gives the same numbers.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from torch.utils.data import DataLoader

from augmill.tasks.loaders import PolicyTransform, VersionDataset


def pixels(image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("L").resize((16, 16)), dtype=np.float32).reshape(-1) / 255.0)


def collate(batch: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixels, class indices, and class probabilities: a MixUp/CutMix row's soft label (the
    manifest's soft_label), one-hot for every other row."""
    return (torch.stack([pixels(sample["item"]) for sample in batch]), torch.tensor([s["target"] for s in batch]),
            torch.tensor([s["soft_target"] for s in batch], dtype=torch.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=".")
    parser.add_argument("--rev", default=None)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--on-the-fly", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    transform = PolicyTransform.from_params(f"{args.root}/params.yaml") if args.on_the_fly else None
    train = VersionDataset(args.root, split="train", rev=args.rev, transform=transform,
                           origin="original" if args.on_the_fly else None)
    test = VersionDataset(args.root, split="test", rev=args.rev)
    model = torch.nn.Linear(256, len(train.classes))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    for epoch in range(args.epochs):
        train.set_epoch(epoch)  # each (sample, epoch) draw is seeded: an epoch can be replayed
        for inputs, _, soft_targets in DataLoader(train, batch_size=64, shuffle=True, collate_fn=collate,
                                                  generator=torch.Generator().manual_seed(epoch)):
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(inputs), soft_targets).backward()  # probabilities as targets
            optimiser.step()
    inputs, targets, _ = collate([test[i] for i in range(len(test))])
    accuracy = float((model(inputs).argmax(1) == targets).float().mean())
    print(json.dumps({"loader": "torch", "train": len(train), "test": len(test), "accuracy": round(accuracy, 4)}))


if __name__ == "__main__":
    main()
