"""A plain PyTorch transfer-learning program (see benchmarks.plain): prints its test accuracy.

    python -m benchmarks.plain.torch_program DATA_DIR [--train-per-class 100] [--bn-policy frozen|train_bn]
"""

import torch
import torchvision.transforms as T
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from benchmarks.plain import BATCH, BODY, EPOCHS, LR, MEAN, SIZE, STD, arguments, files
from torch_impl.models import build_body


class Folder(Dataset):
    def __init__(self, paths, labels):
        self.paths, self.labels = paths, labels
        self.tf = T.Compose([T.Resize(SIZE), T.ToTensor(), T.Normalize(MEAN, STD)])

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.tf(Image.open(self.paths[i]).convert("RGB")), self.labels[i]


def main() -> None:
    args = arguments(__doc__.split("\n")[0])
    torch.manual_seed(0)
    train_files, test_files = files(args.data_dir, "train", args.train_per_class), \
        files(args.data_dir, "test", args.test_per_class)
    body = build_body(BODY, "imagenet")
    model = nn.Sequential(body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, max(train_files[1]) + 1))
    for name, p in body.named_parameters():
        p.requires_grad = args.bn_policy == "train_bn" and isinstance(body.get_submodule(name.rsplit(".", 1)[0]),
                                                                      nn.modules.batchnorm._BatchNorm)
    train, test = DataLoader(Folder(*train_files), BATCH, shuffle=True), DataLoader(Folder(*test_files), BATCH)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    for _ in range(args.epochs or EPOCHS):
        model.train()
        if args.bn_policy == "frozen":
            body.eval()
        for x, y in train:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    model.eval()
    right = total = 0
    with torch.no_grad():
        for x, y in test:
            right += int((model(x).argmax(1) == y).sum())
            total += len(y)
    print(f"accuracy {right / total:.4f}")


if __name__ == "__main__":
    main()
