"""The same CNN as its user wrote it in Keras 3. The keyword arguments are the mistakes a port commonly makes;
their defaults are the faithful port: BN momentum 0.9 and epsilon 1e-5 (torch's momentum 0.1 and eps 1e-5),
explicit zero padding before the stride-2 conv (torch's padding=1), Dropout active only in training."""

import keras
from keras import layers


def small_cnn(n_classes: int = 10, bn_momentum: float = 0.9, same_padding: bool = False,
              dropout_always: bool = False) -> keras.Model:
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(16, 3, padding="same", name="conv1")(inputs)  # stride 1: 'same' pads 1 on every side
    x = layers.BatchNormalization(momentum=bn_momentum, epsilon=1e-5, name="bn1")(x)
    x = layers.ReLU(name="relu1")(x)
    if same_padding:  # stride 2 on an even size: TensorFlow's 'same' pads 0 before and 1 after
        x = layers.Conv2D(32, 3, strides=2, padding="same", name="conv2")(x)
    else:
        x = layers.ZeroPadding2D(1, name="pad2")(x)
        x = layers.Conv2D(32, 3, strides=2, name="conv2")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, epsilon=1e-5, name="bn2")(x)
    x = layers.ReLU(name="relu2")(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.5, name="drop")(x, training=True) if dropout_always else layers.Dropout(0.5, name="drop")(x)
    x = layers.Dense(32, activation="relu", name="fc1")(x)
    x = layers.Dense(32, activation="relu", name="fc2")(x)
    outputs = layers.Dense(n_classes, name="out")(x)
    return keras.Model(inputs, outputs, name="small_cnn")
