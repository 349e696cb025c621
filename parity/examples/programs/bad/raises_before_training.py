"""Bad input for `parity capture`: asks for pretrained weights, then reads a data folder that is not there."""

import sys

import torchvision
from torchvision import datasets

model = torchvision.models.resnet18(weights=torchvision.models.ResNet18_Weights.DEFAULT)
train = datasets.ImageFolder(f"{sys.argv[1]}/no-such-split")
