"""Planted faults: how one is applied inside a process, and undone afterwards. Applied in-process (no file is
copied or edited), so a test or the self-test (parity/selftest/run.py, catalogue in parity/selftest/faultlist.py) can prove
that a case catches it.

A patch names a module, a target in it (`name`, or `name[key]` for an entry of a dict), and how the target
is replaced: a WRAPPERS entry wraps a function; `alias` puts another entry of the same dict in its place;
`fields` replaces fields of a frozen dataclass row. Every parameter is plain data, so a patch travels to a
worker process as it is.
"""

from __future__ import annotations

import dataclasses
import importlib
import re

import numpy as np

from parity.core import memo

_UNDO: list = []  # callables that restore what apply_here() replaced, newest last


# --- function wrappers ------------------------------------------------------------------------------------

def _scale_tensor(real, key: str, factor: float):
    """(logits, {name: gradient}) with one named gradient scaled."""
    def wrapped(*args, **kwargs):
        logits, grads = real(*args, **kwargs)
        return logits, {**grads, key: grads[key] * factor}

    return wrapped


def _scale_when(real, first: str, factor: float):
    """The result scaled when the first argument is `first` (e.g. one loss's per-sample values)."""
    def wrapped(name, *args, **kwargs):
        value = real(name, *args, **kwargs)
        return value * factor if name == first else value

    return wrapped


def _exit_once(real, seed: int, marker: str):
    """The process dies (as a killed or crashed worker would) the first time a run of `seed` starts."""
    import os

    def wrapped(recipe, spec, run_seed, *args, **kwargs):
        if run_seed == seed and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(9)
        return real(recipe, spec, run_seed, *args, **kwargs)

    return wrapped


def _output_when(real, index: int, value, transform: str, *params):
    """The result passed through OUTPUTS[transform] when positional argument `index` equals `value`
    (index -1: always)."""
    def wrapped(*args, **kwargs):
        out = real(*args, **kwargs)
        return OUTPUTS[transform](out, *params) if index < 0 or args[index] == value else out

    return wrapped


def _args_when(real, transform: str, *params):
    """The call made with its positional arguments passed through ARGS[transform] first."""
    def wrapped(*args, **kwargs):
        return real(*ARGS[transform](list(args), *params), **kwargs)

    return wrapped


def _row_fields(real, index: int, when: dict, changes: dict):
    """A spec row (a frozen dataclass) given as positional argument `index` has `changes` applied whenever
    its fields match `when`: a backend that reads one field of a row wrongly."""
    def wrapped(*args, **kwargs):
        row = args[index]
        if all(getattr(row, k) == v for k, v in when.items()):
            args = (*args[:index], dataclasses.replace(row, **changes), *args[index + 1:])
        return real(*args, **kwargs)

    return wrapped


def _kwarg(real, name: str, value):
    """The call made with keyword argument `name` forced to `value`."""
    def wrapped(*args, **kwargs):
        return real(*args, **{**kwargs, name: value})

    return wrapped


def _set_on_result(real, attribute: str, value):
    """The object the function builds gets `attribute` set (e.g. a Keras layer's epsilon left at its default)."""
    def wrapped(*args, **kwargs):
        out = real(*args, **kwargs)
        setattr(out, attribute, value)
        return out

    return wrapped


def _evaluate_in_training_mode(real):
    """Keras evaluation with training=True: BN on batch statistics and dropout on (model(x) inside a custom
    loop whose `training` flag was forgotten)."""
    def wrapped(model, images, batch_size: int = 64):
        import keras

        x = np.asarray(images, np.float32)
        return np.concatenate([keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=True))
                               for i in range(0, len(x), batch_size)])

    return wrapped


def _dropout_active_in_evaluate(real):
    """Keras evaluation with every Dropout layer still dropping (a `training` flag wired the wrong way into a
    custom head), BN left in inference mode."""
    def wrapped(model, *args, **kwargs):
        import keras

        drops = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dropout)]
        for layer in drops:
            layer.call = lambda inputs, training=None, _layer=layer: type(_layer).call(_layer, inputs, training=True)
        try:
            return real(model, *args, **kwargs)
        finally:
            for layer in drops:
                del layer.call

    return wrapped


def _noop(real):
    """The call does nothing (e.g. per-step learning rates that are never applied)."""
    def wrapped(*args, **kwargs):
        return None

    return wrapped


WRAPPERS = {"scale_tensor": _scale_tensor, "scale_when": _scale_when, "exit_once": _exit_once,
            "output_when": _output_when, "args": _args_when, "kwarg": _kwarg, "row_fields": _row_fields,
            "set_on_result": _set_on_result, "noop": _noop, "evaluate_in_training_mode": _evaluate_in_training_mode,
            "dropout_active_in_evaluate": _dropout_active_in_evaluate}


# --- what the wrappers do to outputs and arguments ------------------------------------------------------------

def _flip_channels(x):
    return np.ascontiguousarray(np.asarray(x)[..., ::-1])


def _scale_channel(x, channel: int, factor: float):
    x = np.array(x, copy=True)
    x[..., channel] *= factor
    return x


def _affine(x, scale: float, shift: float):
    return np.asarray(x) * scale + shift


def _scale_item(x, index: int, factor: float):
    out = list(x)
    out[index] = out[index] * factor
    return out


def _keep_prob_as_rate(blocks):
    """parity.components.heads.linear_layers blocks with every dropout p replaced by 1 - p."""
    return [(*block[:5], 1 - block[5] if block[5] > 0 else 0.0, block[6]) for block in blocks]


OUTPUTS = {"flip_channels": _flip_channels, "scale_channel": _scale_channel, "affine": _affine,
           "scale_item": _scale_item, "keep_prob_as_rate": _keep_prob_as_rate}


def _sorted_order(args, index: int):
    """Batches drawn in file order: the same batch sizes, the indices sorted."""
    order = args[index]
    flat = np.sort(np.concatenate([np.asarray(b) for b in order]))
    sizes = np.cumsum([len(b) for b in order])[:-1]
    args[index] = [list(map(int, part)) for part in np.split(flat, sizes)]
    return args


def _last_lr_everywhere(args, index: int):
    args[index] = [args[index][-1]] * len(args[index])
    return args


def _state(args, index: int, how: str):
    """A torch-named state dict changed as a faulty porting table would."""
    state = dict(args[index])
    if how == "transpose_hw":  # OIHW read as OIWH: square kernels load, transposed
        state = {k: (v.transpose(0, 1, 3, 2) if np.ndim(v) == 4 else v) for k, v in state.items()}
    elif how == "swap_mean_var":
        for k in [k for k in state if k.endswith("running_mean")]:
            var = k[:-len("running_mean")] + "running_var"
            state[k], state[var] = state[var], state[k]
    elif how == "head_var_as_std":  # a head BatchNorm1d's running_var loaded as its standard deviation
        state = {k: (np.sqrt(v) if k.startswith("head.") and k.endswith("running_var") else v)
                 for k, v in state.items()}
    elif how == "square_untransposed":  # Linear (out, in) loaded as Dense (in, out) without the transpose: a
        # non-square weight fails the table's shape assertion, a square one loads silently
        state = {k: (v.T if np.ndim(v) == 2 and v.shape[0] == v.shape[1] else v) for k, v in state.items()}
    args[index] = state
    return args


def _regroup(args, index: int, pattern: str, group: int):
    """The layer-group map given as positional argument `index` with every name matching `pattern` moved to
    `group` (one stage's parameters bucketed with another's)."""
    args[index] = {k: (group if re.search(pattern, k) else g) for k, g in args[index].items()}
    return args


def _none_at(args, index: int):
    """Positional argument `index` given as None."""
    args[index] = None
    return args


def _skip_batch(args, batches_index: int, lrs_index: int, skipped: int):
    """A training loop that silently drops one batch (and its LR row)."""
    batches, lrs = args[batches_index], list(args[lrs_index])
    args[batches_index] = (b for i, b in enumerate(batches) if i != skipped)
    args[lrs_index] = lrs[:skipped] + lrs[skipped + 1:]
    return args


def _swap_pool(args, index: int):
    args[index] = "_".join(reversed(args[index].split("_")))
    return args


def _map_arg(args, index: int, transform: str, *params):
    args[index] = OUTPUTS[transform](args[index], *params)
    return args


def _tf_same_padding(args, stride_index: int, pad_index: int):
    """Conv2D(padding='same') where torch pads symmetrically: with stride 2, TensorFlow pads one row and column
    less at the top and left."""
    stride, pad = args[stride_index], args[pad_index]
    if stride == 2 and isinstance(pad, int) and pad > 0:
        args[pad_index] = ((pad - 1, pad), (pad - 1, pad))
    return args


def _swap_pair(args, index: int):
    """A pair given as positional argument `index` read the other way round (when it is given)."""
    if len(args) > index:
        args[index] = tuple(args[index])[::-1]
    return args


ARGS = {"map_arg": _map_arg, "swap_pair": _swap_pair, "tf_same_padding": _tf_same_padding, "sorted_order": _sorted_order,
        "last_lr_everywhere": _last_lr_everywhere,
        "state": _state, "skip_batch": _skip_batch, "swap_pool": _swap_pool, "regroup": _regroup,
        "none_at": _none_at}


# --- applying and undoing -----------------------------------------------------------------------------------

def _resolve(module: str, target: str):
    """(container, key, is_item): `name` is an attribute of the module, `name[key]` an entry of a dict."""
    mod = importlib.import_module(module)
    m = re.fullmatch(r"(\w+)\[(.+)\]", target)
    if m:
        return getattr(mod, m.group(1)), m.group(2), True
    return mod, target, False


def apply_here(module: str, target: str, how: str, *params) -> None:
    """Runs in a worker (or in place): replace module.target as `how` says (see the module docstring)."""
    container, key, item = _resolve(module, target)
    get = (lambda: container[key]) if item else (lambda: getattr(container, key))
    put = (lambda v: container.__setitem__(key, v)) if item else (lambda v: setattr(container, key, v))
    original = get()
    if how == "alias":
        new = container[params[0]]
    elif how == "fields":
        new = dataclasses.replace(original, **params[0])
    else:
        new = WRAPPERS[how](original, *params)
    _UNDO.append(lambda: put(original))
    put(new)
    memo.code_changed()


def undo_here() -> int:
    """Restore every patched target, newest first; returns how many were undone."""
    count = len(_UNDO)
    while _UNDO:
        _UNDO.pop()()
    memo.code_changed()
    return count


def patched_here() -> int:
    return len(_UNDO)
