"""Plain programs for the overhead bench: what a user writes without parity, to time parity's runs against.

Each trains the same model as `parity train --recipe torch_plain --body efficientnet_lite0` (Lite0 ImageNet
body, global average pool, one Linear/Dense, Adam 1e-3, cross-entropy, batch 64, images resized 32 -> 64 with
PIL's bilinear resize, ImageNet mean/std) on the first N images per class of an image-folder tree, with the
framework's own data feeding and loop: torchvision ImageFolder + DataLoader + a hand loop, and numpy arrays into
Keras' `model.fit`. The body and its ported ImageNet weights come from parity's mirrors (torch_impl.models,
keras_impl.models): a plain program needs the same model, and building it is not what is being timed against.
"""

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIZE, BATCH, LR, EPOCHS, BODY = 64, 64, 1e-3, 3, "efficientnet_lite0"
POLICIES = ("frozen", "train_bn")


def arguments(description: str):
    import argparse
    from pathlib import Path

    p = argparse.ArgumentParser(description=description)
    p.add_argument("data_dir", type=Path)
    p.add_argument("--train-per-class", type=int, default=100)
    p.add_argument("--test-per-class", type=int, default=50)
    p.add_argument("--bn-policy", choices=POLICIES, default="frozen")
    p.add_argument("--epochs", type=int, default=EPOCHS)
    return p.parse_args()


def files(root, split: str, per_class: int) -> tuple[list, list]:
    """(paths, labels) of the first `per_class` files of each class folder, classes and files sorted."""
    classes = sorted(d.name for d in (root / split).iterdir() if d.is_dir())
    paths, labels = [], []
    for label, name in enumerate(classes):
        chosen = sorted((root / split / name).iterdir())[:per_class]
        paths += chosen
        labels += [label] * len(chosen)
    return paths, labels
