"""A fastai 2 program as its documentation teaches it: images resized to 224 as items, the default augmentation
on batches, a pretrained ResNet-34 and fine_tune(2). The data path is the only argument.

    python fastai2_fine_tune.py PATH     # PATH/train/<class>/*, PATH/test/<class>/*
"""

import sys

from fastai.vision.all import (ImageDataLoaders, Path, Resize, accuracy, aug_transforms, resnet34,
                               vision_learner)

path = Path(sys.argv[1])
dls = ImageDataLoaders.from_folder(path, train="train", valid="test", item_tfms=Resize(224),
                                   batch_tfms=aug_transforms(), bs=64, num_workers=0)
learn = vision_learner(dls, resnet34, metrics=accuracy)
learn.fine_tune(2)
