"""A Keras 3 transfer-learning program in the style of the Keras guides: images read with
image_dataset_from_directory, resized and scaled by preprocessing layers inside the model, a frozen
keras.applications ResNet50V2, AdamW on a cosine-decay schedule, label smoothing. The data path is the only
argument.

    python keras_adamw_cosine.py PATH     # PATH/train/<class>/*, PATH/test/<class>/*
"""

import os
import sys

import keras
from keras import layers

root = sys.argv[1]
train = keras.utils.image_dataset_from_directory(os.path.join(root, "train"), image_size=(32, 32), batch_size=32,
                                                 label_mode="categorical")
test = keras.utils.image_dataset_from_directory(os.path.join(root, "test"), image_size=(32, 32), batch_size=32,
                                                label_mode="categorical", shuffle=False)

preprocess = keras.Sequential([layers.Resizing(64, 64), layers.Rescaling(1 / 127.5, offset=-1)], name="preprocess")
base = keras.applications.ResNet50V2(include_top=False, weights="imagenet", input_shape=(64, 64, 3))
base.trainable = False

inputs = keras.Input((32, 32, 3))
x = preprocess(inputs)
x = base(x, training=False)
x = layers.GlobalAveragePooling2D()(x)
outputs = layers.Dense(len(train.class_names))(x)
model = keras.Model(inputs, outputs)

epochs = 10
schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=epochs * len(train))
model.compile(optimizer=keras.optimizers.AdamW(learning_rate=schedule),
              loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
              metrics=["accuracy"])
model.fit(train, validation_data=test, epochs=epochs)
