"""Bad input for `parity capture`: builds a model and evaluates it, never trains."""

import torchvision

model = torchvision.models.resnet18(weights=None).eval()
print(sum(p.numel() for p in model.parameters()), "parameters")
