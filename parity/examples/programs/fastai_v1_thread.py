"""The forum thread's fastai 1.0.61 program, as its first post wrote it (the data path is the only argument).

    python fastai_v1_thread.py PATH/cifar10     # PATH/cifar10/train/<class>/*, PATH/cifar10/test/<class>/*

parity's built-in recipe `fastai_v1_fit` stands for this program: `parity capture` reads it into exactly that
recipe, every knob from the live Learner (tests/test_oracle_fastai_v1.py, under fastai 1.0.61).
"""

import sys

from fastai.vision import *  # noqa: F401,F403  (the thread's import)

data_path = sys.argv[1]

data = ImageDataBunch.from_folder(data_path, train="train", valid="test", ds_tfms=None, size=64,  # noqa: F405
                                  num_workers=0).normalize(imagenet_stats)  # noqa: F405

learn = cnn_learner(data, models.resnet50, metrics=[accuracy], true_wd=False)  # noqa: F405

learn.fit(3)
