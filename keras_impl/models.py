"""Keras bodies rebuilt layer for layer from the torch ones, with torch parameter names on every layer.

torch pads convolutions symmetrically: ZeroPadding2D + 'valid' reproduces it (Keras 'same' with stride 2
pads asymmetrically). torch BN momentum m is Keras momentum 1 - m; eps is carried over as is.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from keras_impl._backend import inference, to_numpy
from keras_impl._porting import keras_name, load_state, state_of, torch_name
from parity.components import models as spec
from parity.core.errors import ParityError

# A portable body's kernels are always the torch ones, ported in after the build (parity.components.models.build_body,
# parity.components.classifier.build_model): drawing Keras' glorot init first took half of a ResNet-50 build.
_PLACEHOLDER = "zeros"


def _bn(body: spec.Body, name: str):
    return layers.BatchNormalization(momentum=1 - body.torch_bn_momentum, epsilon=body.bn_eps, name=keras_name(name))


def _conv(x, filters, kernel, stride, pad, name):
    if pad:
        x = layers.ZeroPadding2D(pad)(x)
    return layers.Conv2D(filters, kernel, stride, "valid", use_bias=False, kernel_initializer=_PLACEHOLDER,
                         name=keras_name(name))(x)


def _resnet_block(x, body, name, planes, stride, downsample):
    relu = layers.ReLU
    shortcut = x
    if body.block == "basic":
        y = relu()(_bn(body, f"{name}.bn1")(_conv(x, planes, 3, stride, 1, f"{name}.conv1")))
        y = _bn(body, f"{name}.bn2")(_conv(y, planes, 3, 1, 1, f"{name}.conv2"))
        out = planes
    else:  # bottleneck v1.5: the stride sits on the 3x3
        y = relu()(_bn(body, f"{name}.bn1")(_conv(x, planes, 1, 1, 0, f"{name}.conv1")))
        y = relu()(_bn(body, f"{name}.bn2")(_conv(y, planes, 3, stride, 1, f"{name}.conv2")))
        y = _bn(body, f"{name}.bn3")(_conv(y, planes * 4, 1, 1, 0, f"{name}.conv3"))
        out = planes * 4
    if downsample:
        shortcut = _bn(body, f"{name}.downsample.1")(_conv(x, out, 1, stride, 0, f"{name}.downsample.0"))
    return relu()(layers.Add()([y, shortcut])), out


def _resnet(body: spec.Body, inputs):
    x = layers.ReLU()(_bn(body, "bn1")(_conv(inputs, 64, 7, 2, 3, "conv1")))
    # torch MaxPool2d pads with -inf, ZeroPadding2D with 0: equal here because x >= 0 after ReLU
    x = layers.MaxPooling2D(3, 2, "valid")(layers.ZeroPadding2D(1)(x))
    channels = 64
    for stage, (blocks, planes) in enumerate(zip(body.layers, (64, 128, 256, 512)), 1):
        for b in range(blocks):
            stride = 2 if stage > 1 and b == 0 else 1
            expansion = 1 if body.block == "basic" else 4
            downsample = b == 0 and (stride != 1 or channels != planes * expansion)
            x, channels = _resnet_block(x, body, f"layer{stage}.{b}", planes, stride, downsample)
    return x


def _lite0(body: spec.Body, inputs):
    relu6 = lambda: layers.ReLU(max_value=6.0)  # noqa: E731
    pad = spec.static_same_padding(body.input_size, 3, 2)
    x = relu6()(_bn(body, "_bn0")(_conv(inputs, spec.LITE0_STEM, 3, 2, (pad, pad), "_conv_stem")))
    for index, expand, kernel, stride, f_in, f_out, pad, skip in spec.lite0_blocks(body.input_size):
        name, y = f"_blocks.{index}", x
        if expand != 1:
            y = relu6()(_bn(body, f"{name}._bn0")(_conv(y, f_in * expand, 1, 1, 0, f"{name}._expand_conv")))
        y = layers.ZeroPadding2D((pad, pad))(y)
        y = layers.DepthwiseConv2D(kernel, stride, "valid", use_bias=False, depthwise_initializer=_PLACEHOLDER,
                                   name=keras_name(f"{name}._depthwise_conv"))(y)
        y = relu6()(_bn(body, f"{name}._bn1")(y))
        y = _bn(body, f"{name}._bn2")(_conv(y, f_out, 1, 1, 0, f"{name}._project_conv"))
        x = layers.Add()([y, x]) if skip else y
    return relu6()(_bn(body, "_bn1")(_conv(x, spec.LITE0_HEAD, 1, 1, 0, "_conv_head")))


def _keras_applications(weights: str | None) -> keras.Model:
    """keras.applications.ResNet50V2 as the thread built it (include_top=False); 'imagenet' downloads once."""
    try:
        net = keras.applications.ResNet50V2(include_top=False, weights=weights, input_shape=(None, None, 3))
    except Exception as exc:  # keras.utils.get_file: URLError / socket errors offline, when not cached
        raise ParityError(f"cannot load resnet50v2_keras weights {weights!r} ({type(exc).__name__}: {exc}); they "
                          f"download once into ~/.keras/models, which needs internet") from exc
    return keras.Model(net.input, net.output, name="resnet50v2_keras")


def build_body(name: str, weights: str | None = None, seed: int = 0) -> keras.Model:
    """The Keras twin of the torch body with torch names on every layer; a portable body is built with zero
    kernels (_PLACEHOLDER: the caller ports the torch weights in), the keras.applications body with its own."""
    keras.utils.set_random_seed(seed)
    body = spec.get_body(name)
    return spec.family_builder(FAMILIES, body, "keras_impl")(body, weights)


def _functional(layers):
    def build(body, weights) -> keras.Model:
        inputs = keras.Input((None, None, 3))
        return keras.Model(inputs, layers(body, inputs), name=body.name)

    return build


FAMILIES = {"resnet": _functional(_resnet), "efficientnet_lite": _functional(_lite0),
            "keras_applications": lambda body, weights: _keras_applications(weights)}


def body_state(model: keras.Model) -> dict[str, np.ndarray]:
    """The body's weights as numpy in torch layouts and names (the Keras -> torch direction of the table)."""
    return state_of(model)


def load_body_state(model: keras.Model, state: dict[str, np.ndarray]) -> int:
    """Port a torch-named numpy state in through parity.components.porting's table (every shape and key asserted)."""
    return load_state(model, state)


def forward_features(model: keras.Model, images, training: bool = False) -> np.ndarray:
    """NHWC float32 (already normalised) -> body features NHWC float32; a body called for many chunks in
    inference mode runs them traced from the second on (bit-identical, see _backend.inference)."""
    x = np.asarray(images, np.float32)
    return to_numpy(model(x, training=True)) if training else inference(model, x)


def build_imagenet_classifier(name: str) -> keras.Model:
    """Lite0 with its ImageNet head: body + average pool + '_fc' (the front layer ports the torch weights)."""
    body = build_body(name)
    logits = layers.Dense(1000, name="_fc")(layers.GlobalAveragePooling2D()(body.output))  # dropout: off in eval
    return keras.Model(body.input, logits, name=f"{name}_imagenet")


def imagenet_classifier_state(model: keras.Model) -> dict[str, np.ndarray]:
    return state_of(model)


def load_imagenet_classifier_state(model: keras.Model, state: dict[str, np.ndarray]) -> int:
    return load_state(model, state)


def classify(model: keras.Model, images) -> np.ndarray:
    """NHWC float32 (already normalised) -> ImageNet logits (N, 1000)."""
    return to_numpy(model(np.asarray(images, np.float32), training=False))


def float64_copy(model: keras.Model) -> keras.Model:
    """Not offered: float64 references are torch's (parity.runtime.backends declares it)."""
    raise ParityError("float64 reference copies come from the torch backend")


def layer_outputs(model: keras.Model, images, training: bool = False) -> dict[str, np.ndarray]:
    """Output of every layer that has weights (conv, BN, dense), by torch name, in graph order: the trace
    parity.testing compares a user's models by (keras_impl.testing)."""
    from keras_impl.testing import WEIGHTED, trace

    return {torch_name(p["name"]): p["output"] for p in trace(model, images, training) if p["kind"] in WEIGHTED}