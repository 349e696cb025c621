"""A plain Keras transfer-learning program (see benchmarks.plain): numpy arrays into `model.fit`; prints its
test accuracy.

    python -m benchmarks.plain.keras_program DATA_DIR [--train-per-class 100] [--bn-policy frozen|train_bn]
"""

import numpy as np
import torch  # noqa: F401  (torch before TensorFlow: the ImageNet weights are ported from the torch body)
from PIL import Image

from benchmarks.plain import BATCH, BODY, EPOCHS, LR, MEAN, SIZE, STD, arguments, files
from torch_impl.models import body_state, build_body as torch_body


def images(paths) -> np.ndarray:
    x = np.stack([np.asarray(Image.open(p).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)) for p in paths])
    return ((x / 255.0 - np.array(MEAN)) / np.array(STD)).astype("float32")


def main() -> None:
    args = arguments(__doc__.split("\n")[0])
    import keras

    from keras_impl.models import build_body, load_body_state

    keras.utils.set_random_seed(0)
    train_paths, train_labels = files(args.data_dir, "train", args.train_per_class)
    test_paths, test_labels = files(args.data_dir, "test", args.test_per_class)
    body = build_body(BODY)
    load_body_state(body, body_state(torch_body(BODY, "imagenet")))
    for layer in body.layers:
        layer.trainable = args.bn_policy == "train_bn" and isinstance(layer, keras.layers.BatchNormalization)
    inputs = keras.Input((SIZE, SIZE, 3))
    # frozen: the body is called in inference mode, as Keras' transfer-learning guide does
    features = body(inputs, training=False) if args.bn_policy == "frozen" else body(inputs)
    outputs = keras.layers.Dense(max(train_labels) + 1)(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(LR), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(images(train_paths), np.array(train_labels), batch_size=BATCH, epochs=args.epochs or EPOCHS,
              shuffle=True, verbose=0)
    _, accuracy = model.evaluate(images(test_paths), np.array(test_labels), batch_size=BATCH, verbose=0)
    print(f"accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
