"""Bad input for `parity capture`: the classic two-stage Keras fine-tune, two fits in one program (a recipe is
one training run)."""

import os
import sys

import keras

root = sys.argv[1]
train = keras.utils.image_dataset_from_directory(os.path.join(root, "train"), image_size=(32, 32), batch_size=64)
base = keras.applications.ResNet50V2(include_top=False, weights="imagenet", input_shape=(32, 32, 3))
base.trainable = False
inputs = keras.Input((32, 32, 3))
x = keras.applications.resnet_v2.preprocess_input(inputs)
x = keras.layers.GlobalAveragePooling2D()(base(x, training=False))
model = keras.Model(inputs, keras.layers.Dense(10)(x))
model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(train, epochs=2)

base.trainable = True
model.compile(keras.optimizers.Adam(1e-5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(train, epochs=2)
