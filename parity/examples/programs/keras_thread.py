"""The forum thread's Keras program: its model and optimizer as the first post wrote them, in Keras 3's API
names (`learning_rate=`, where the thread's TF 2.0 code said `lr=`), and the data pipeline its text describes
("I reshaped the images from 32x32 to 224x224"): CIFAR-10 read as 32 px images, resized to 224 with
tf.image.resize and scaled by ResNet50V2's preprocess_input; batch size 64, 3 epochs. The data path is the only
argument.

    python keras_thread.py PATH/cifar10     # PATH/cifar10/train/<class>/*, PATH/cifar10/test/<class>/*

parity's built-in recipe `keras_thread` stands for this program (and `keras_thread_64` for it at 64 px);
`parity capture` reads the program into exactly that recipe (tests/test_thread_scripts.py).
"""

import os
import sys

import tensorflow as tf
from tensorflow import keras

data_path = sys.argv[1]
nr_classes = len(os.listdir(os.path.join(data_path, "train")))


def load(split):
    ds = keras.utils.image_dataset_from_directory(os.path.join(data_path, split), image_size=(32, 32),
                                                  batch_size=64)
    return ds.map(lambda x, y: (keras.applications.resnet_v2.preprocess_input(tf.image.resize(x, (224, 224))), y))


train_ds, test_ds = load("train"), load("test")

base_model = keras.applications.resnet_v2.ResNet50V2(weights="imagenet", include_top=False)

for layer in base_model.layers:
    layer.trainable = False

avg = keras.layers.GlobalAveragePooling2D()(base_model.output)
mx = keras.layers.GlobalMaxPooling2D()(base_model.output)
out = tf.keras.layers.Concatenate()([avg, mx])
out = keras.layers.BatchNormalization()(out)
out = keras.layers.Dropout(0.25)(out)
out = keras.layers.Dense(512, activation="relu")(out)
out = keras.layers.BatchNormalization()(out)
out = keras.layers.Dropout(0.25)(out)
out = keras.layers.Dense(nr_classes, activation="softmax")(out)

model = keras.models.Model(inputs=base_model.input, outputs=out)

optimizer = tf.keras.optimizers.Adam(learning_rate=0.003)
model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])

model.fit(train_ds, validation_data=test_ds, epochs=3)
