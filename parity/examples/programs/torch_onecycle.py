"""A plain PyTorch transfer-learning program: torchvision ImageFolder with Resize(64), a pretrained ResNet-50
with its parameters frozen and a new final Linear layer, Adam on a OneCycleLR schedule, cross-entropy, a loop
written by hand. The data path is the only argument.

    python torch_onecycle.py PATH     # PATH/train/<class>/*, PATH/test/<class>/*
"""

import sys

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

root = sys.argv[1]
tfm = transforms.Compose([transforms.Resize(64), transforms.ToTensor(),
                          transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
train = datasets.ImageFolder(f"{root}/train", tfm)
test = datasets.ImageFolder(f"{root}/test", tfm)
train_dl = DataLoader(train, batch_size=64, shuffle=True)
test_dl = DataLoader(test, batch_size=64)

model = torchvision.models.resnet50(weights=torchvision.models.ResNet50_Weights.IMAGENET1K_V2)
for p in model.parameters():
    p.requires_grad = False
model.fc = nn.Linear(model.fc.in_features, len(train.classes))

epochs = 3
opt = torch.optim.Adam(model.fc.parameters(), lr=1e-3)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, epochs=epochs, steps_per_epoch=len(train_dl))
loss_fn = nn.CrossEntropyLoss()

for epoch in range(epochs):
    model.train()
    for x, y in train_dl:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        correct = sum((model(x).argmax(1) == y).sum().item() for x, y in test_dl)
    print(f"epoch {epoch}: accuracy {correct / len(test):.3f}")
