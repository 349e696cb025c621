"""A user's small CNN in PyTorch (16 x 16 RGB inputs, 10 classes): two conv + BatchNorm blocks, the second with
stride 2 and explicit padding, max pooling, Flatten, Dropout and three Linear layers (the middle one square)."""

from torch import nn


class SmallCNN(nn.Module):
    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.drop = nn.Dropout(0.5)
        self.fc1 = nn.Linear(32 * 4 * 4, 32)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(32, 32)
        self.relu4 = nn.ReLU()
        self.out = nn.Linear(32, n_classes)

    def forward(self, x):
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.pool(self.relu2(self.bn2(self.conv2(x))))
        x = self.drop(self.flatten(x))
        x = self.relu4(self.fc2(self.relu3(self.fc1(x))))
        return self.out(x)
