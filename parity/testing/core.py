"""parity.testing's comparisons, in the caller's process: port a torch model's weights into a Keras model, then
compare the two layer by layer (forward), parameter by parameter (gradients) and step by step (training). Each
layer or tensor is measured with parity.check.compare's figures and judged by the same function parity's own cases
use (measure_layers), against a tolerance of the one table and the float32 noise of a float64 torch reference.

Inputs cross as numpy in Keras' layout (NHWC images); torch gets them transposed. The torch and Keras halves
are torch_impl.testing and keras_impl.testing, imported when a function runs (parity itself loads neither).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from parity.check.compare import measure_layers, measure_pair
from parity.check.tolerances import get_tolerance
from parity.components import optim
from parity.core.errors import ParityError
from parity.testing.align import LayerMap, align, by_names, to_keras, to_torch

MODES = ("eval", "train")
_JUDGE = SimpleNamespace(id="parity.testing", exclude=(), floor_factor=0)  # what measure_layers reads of a case
# training: a tensor may differ by up to this factor times the torch side's own float32 noise against its float64
# twin, where that is above the tolerance (a conv bias before BN has a gradient of pure rounding noise, which Adam
# turns into steps of about lr); parity's own training cases use the same factor (cases.train.FLOAT64_FLOOR_FACTOR)
FLOOR_FACTOR = 10.0
RECORDED: list = []  # every Comparison made in this process, for the pytest plugin's --parity-report
CURRENT_TEST: str | None = None  # the pytest node running (set by parity.testing.plugin)


def _sides():
    import sys

    if "tensorflow" in sys.modules and "torch._dynamo" not in sys.modules:
        raise ParityError("TensorFlow was imported before torch's optimizers could load (torch._dynamo): in this "
                          "process creating a torch optimizer would segfault (torch 2.14, TF 2.21). Import torch "
                          "and torch._dynamo (or torchvision) before keras or tensorflow, e.g. first in conftest.py")
    import torch_impl.testing as torch_side  # noqa: F401  (torch before TensorFlow)
    import keras_impl.testing as keras_side

    return torch_side, keras_side


def _describe(stage) -> str:
    return f"{stage.name!r} ({type(stage.layer).__name__})"


@dataclass
class Comparison:
    """One comparison: what was compared, every row measured, the tolerance, and the first row over it."""
    what: str
    tolerance: str
    rows: list  # {'name', 'step', 'max_abs', 'max_rel', 'noise', 'noise_ratio', 'within', 'judged', ...}
    notes: list = field(default_factory=list)
    test: str | None = None  # the pytest node that made it
    keras: str = ""  # the Keras backend: keras_tf, keras_torch or keras_jax
    seconds: float = 0.0

    @property
    def first_over(self) -> dict | None:
        return next((r for r in self.rows if r["judged"] and not r["within"]), None)

    @property
    def ok(self) -> bool:
        return self.first_over is None

    def message(self) -> str:
        """One readable paragraph: the first layer or tensor over tolerance, its error, the tolerance, the noise."""
        bad = self.first_over
        if bad is None:
            judged = sum(r["judged"] for r in self.rows)
            return f"{self.what}: every one of {judged} judged rows within {self.tolerance}"
        name = bad.get("tolerance", self.tolerance)
        tol = get_tolerance(name)
        figure = bad["max_rel"] if tol.relative else bad["max_abs"]
        where = f"step {bad['step']}, " if bad.get("step") is not None else ""
        own = bad.get("noise_rel") if tol.relative else bad.get("noise")
        noise = (f"; the torch side's float32 noise {own:.2g}, the error is {bad['noise_ratio']:.3g}x it"
                 if own is not None and bad.get("noise_ratio") is not None else "")
        why = f" ({bad['why']})" if bad.get("why") else ""
        kind = "max rel" if tol.relative else "max abs"
        return (f"{self.what}: first over tolerance at {where}{bad['name']}: {kind} "
                f"error {figure:.3g} > {tol.max_abs:g} ({name}, {tol.units}){noise}{why}")

    def __str__(self) -> str:
        lines = [self.message()]
        for r in self.rows:
            mark = "ok " if r["within"] else ("   " if not r["judged"] else "BAD")
            step = f"step {r['step']:3d} " if r.get("step") is not None else ""
            lines.append(f"  {mark} {step}{r['name']:40s} max abs {r['max_abs']:.3g}  max rel {r['max_rel']:.3g}")
        return "\n".join(lines)


def _record(comparison: Comparison, started: float) -> Comparison:
    import keras

    comparison.test = CURRENT_TEST
    comparison.keras = {"tensorflow": "keras_tf", "torch": "keras_torch", "jax": "keras_jax"}.get(
        keras.backend.backend(), keras.backend.backend())
    comparison.seconds = time.perf_counter() - started
    RECORDED.append(comparison)
    return comparison


# --- the map and the port ----------------------------------------------------------------------------------

def _probe(x: np.ndarray | None, keras_model):
    """A small input both models take: two of `x`, or the Keras model's input shape with batch 2 (seeded)."""
    if x is not None:
        return np.asarray(x, np.float32)[:2]
    shape = tuple(keras_model.inputs[0].shape[1:])
    if any(s is None for s in shape):
        raise ParityError(f"the Keras model's input shape {shape} is not fixed: pass an example input (x=...)")
    return np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)


def layer_map(torch_model, keras_model, x: np.ndarray | None = None, name_map: dict | None = None,
              training: bool = False) -> LayerMap:
    """The two models' layers paired: by `name_map` {torch module: Keras layer} when given, else in execution
    order, kind by kind (an error names the first pair that differs)."""
    torch_side, keras_side = _sides()
    x = _probe(x, keras_model)
    tp, kp = torch_side.trace(torch_model, x, training), keras_side.trace(keras_model, x, training)
    lmap = by_names(tp, kp, name_map) if name_map else align(tp, kp, _describe)
    for pair in lmap.pairs:
        if pair.torch.kind == "bn":
            t, k = torch_side.bn_settings(pair.torch.layer), keras_side.bn_settings(pair.keras.layer)
            differs = []
            if abs(t["eps"] - k["eps"]) > 1e-12:
                differs.append(f"BN eps: torch {t['eps']:g}, Keras {k['eps']:g}")
            if t["keras_momentum"] is not None and abs(t["keras_momentum"] - k["keras_momentum"]) > 1e-9:
                differs.append(f"BN momentum: torch momentum {1 - t['keras_momentum']:g} is Keras momentum "
                               f"{t['keras_momentum']:g} (1 - torch's: the two frameworks weigh the old statistics "
                               f"oppositely), Keras has {k['keras_momentum']:g}")
            if differs:
                lmap.notes[pair.label] = "; ".join(differs)
    return lmap


def port_weights(torch_model, keras_model, name_map: dict | None = None, x: np.ndarray | None = None) -> LayerMap:
    """Copy every weight and BN statistic of `torch_model` into `keras_model`, layer by layer through the porting
    table (conv OIHW -> HWIO, linear transposed, a Linear after a Flatten has its columns permuted from CHW to
    HWC), asserting each tensor's shape. Returns the layer map the comparisons take."""
    torch_side, keras_side = _sides()
    lmap = layer_map(torch_model, keras_model, x, name_map)
    for i, pair in enumerate(lmap.weighted(), 1):
        theirs = keras_side.weights_of(pair.keras.layer)
        values = {}
        for tensor, value in torch_side.weights_of(pair.torch.layer).items():
            if tensor not in theirs:
                raise ParityError(f"porting {pair.label}: torch has {tensor!r} {value.shape}, the Keras layer has no "
                                  f"such tensor (it has {', '.join(theirs)})")
            values[tensor] = to_keras(pair, tensor, value)
            if values[tensor].shape != theirs[tensor].shape:
                raise ParityError(f"porting {pair.label} ({pair.torch.kind}): torch {tensor} {value.shape} becomes "
                                  f"{values[tensor].shape} in Keras' layout, the Keras layer has "
                                  f"{theirs[tensor].shape}")
        missing = sorted(set(theirs) - set(values))
        if missing:
            raise ParityError(f"porting {pair.label}: the Keras layer has {', '.join(missing)} that torch lacks")
        keras_side.assign(pair.keras.layer, values)
    return lmap


# --- forward ---------------------------------------------------------------------------------------------

def _points(stage) -> list[tuple[str, np.ndarray | None]]:
    out = [(stage.name, stage.output)]
    if stage.activation is not None:
        out.append((stage.activation["name"], stage.activation["output"]))
    return out


def _quads(outputs: LayerMap, floats: LayerMap) -> list:
    """(name, torch output, Keras output, float64 torch output) of every point both sides show."""
    quads = []
    for pair, ref in zip(outputs.pairs, floats.pairs):
        tpoints, kpoints, rpoints = _points(pair.torch), _points(pair.keras), _points(ref.torch)
        for (tn, tv), (kn, kv), (_, rv) in zip(tpoints, kpoints, rpoints):
            if tv is not None and kv is not None:
                quads.append((f"{tn} / {kn}", tv, kv, rv))
    return quads


def _judged(quads: list, tolerance: str, judged: bool = True, step=None, why: dict | None = None,
            floor: bool = False) -> list[dict]:
    """Each (name, torch, keras, float64 reference) judged by measure_layers (parity's own judge); with `floor`,
    against max(tolerance, FLOOR_FACTOR x the tensor's float32 noise). The noise shown is the torch side's own
    against the reference (the Keras side may be the faulty one)."""
    tol = get_tolerance(tolerance)
    measured = measure_layers(_JUDGE, [(n, a, b, None) for n, a, b, _ in quads], tol)["layers"]
    rows = []
    for (name, a, _, ref), r in zip(quads, measured):
        noise = noise_rel = ratio = None
        within = bool(r["within"])
        if ref is not None:
            own = measure_pair(np.asarray(a, np.float64), np.asarray(ref, np.float64), None)
            noise, noise_rel = own["max_abs"], own["max_rel"]
            error, own_noise = (r["max_rel"], noise_rel) if tol.relative else (r["max_abs"], noise)
            ratio = error / own_noise if own_noise else None
            if floor:
                within = bool(r["finite"]) and error <= max(tol.max_abs, FLOOR_FACTOR * own_noise)
        rows.append({"name": name, "step": step, "max_abs": r["max_abs"], "max_rel": r["max_rel"],
                     "mean_abs": r["mean_abs"], "noise": noise, "noise_rel": noise_rel, "noise_ratio": ratio,
                     "within": within if judged else True, "judged": judged,
                     "why": (why or {}).get(name, ""), "tolerance": tolerance})
    return rows


def _why(lmap: LayerMap) -> dict:
    """Row name -> the setting that differs in that layer (shown in the failure message)."""
    out = {}
    for pair in lmap.pairs:
        if pair.label in lmap.notes:
            for tn, kn in zip([n for n, _ in _points(pair.torch)], [n for n, _ in _points(pair.keras)]):
                out[f"{tn} / {kn}"] = lmap.notes[pair.label]
    return out


def compare_forward(torch_model, keras_model, x: np.ndarray, mode: str = "eval", name_map: dict | None = None,
                    tolerance: str | None = None) -> Comparison:
    """Every aligned layer's output, torch against Keras, with the float32 noise of the torch side against a
    float64 copy, judged relative to each layer's largest value. mode='train' runs BN on batch statistics (and
    switches Dropout off on both sides, whose masks cannot agree), then compares the BN running statistics the
    pass left; the models' statistics are put back afterwards."""
    if mode not in MODES:
        raise ParityError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    started = time.perf_counter()
    torch_side, keras_side = _sides()
    training = mode == "train"
    tolerance = tolerance or ("features_train_f32" if training else "features_f32")
    get_tolerance(tolerance)  # a misspelt name fails before any work
    x = np.asarray(x, np.float32)
    reference = torch_side.float64_copy(torch_model)
    base = layer_map(torch_model, keras_model, x, name_map)  # in inference: the map, its notes, the BN layers
    saved = _save_stats(torch_side, keras_side, base)
    drops = (torch_side.set_dropout(torch_model, 0.0), keras_side.set_dropout(keras_model, 0.0),
             torch_side.set_dropout(reference, 0.0)) if training else None
    try:
        tp = torch_side.trace(torch_model, x, training)
        kp = keras_side.trace(keras_model, x, training)
        rp = torch_side.trace(reference, x.astype(np.float64), training)
        pair_up = (lambda a, b: by_names(a, b, name_map)) if name_map else (lambda a, b: align(a, b, _describe))
        outputs, floats = pair_up(tp, kp), pair_up(rp, kp)
        lmap = LayerMap(outputs.pairs, base.notes)  # this mode's outputs, the settings that differ by layer
        rows = _judged(_quads(outputs, floats), tolerance, why=_why(lmap))
        comparison = Comparison(f"forward ({mode})", tolerance, rows, list(lmap.notes.values()))
        if training:
            comparison.rows += _stats_rows(torch_side, keras_side, reference, lmap, _why(lmap))
    finally:
        if drops:
            torch_side.set_dropout(torch_model, None, drops[0])
            keras_side.set_dropout(keras_model, None, drops[1])
        _restore_stats(torch_side, keras_side, saved)
    return _record(comparison, started)


def _save_stats(torch_side, keras_side, lmap: LayerMap) -> list:
    """Every BN layer's tensors on both sides, to put back after a pass that moved them."""
    return [(p, torch_side.weights_of(p.torch.layer), keras_side.weights_of(p.keras.layer))
            for p in lmap.pairs if p.torch.kind == "bn"]


def _restore_stats(torch_side, keras_side, saved: list) -> None:
    for pair, tw, kw in saved:
        torch_side.assign(pair.torch.layer, tw)
        keras_side.assign(pair.keras.layer, kw)


def _stats_rows(torch_side, keras_side, reference, lmap: LayerMap, why: dict) -> list[dict]:
    """BN running statistics after a pass in training mode, torch against Keras (noise: the float64 copy)."""
    ref_layers = dict(reference.named_modules())
    quads = []
    for pair in lmap.pairs:
        if pair.torch.kind != "bn":
            continue
        tw, kw = torch_side.weights_of(pair.torch.layer), keras_side.weights_of(pair.keras.layer)
        rw = torch_side.weights_of(ref_layers[pair.torch.name]) if pair.torch.name in ref_layers else {}
        for name in ("running_mean", "running_var"):
            quads.append((f"{pair.torch.name}.{name} / {pair.keras.name}", tw[name], kw[name], rw.get(name)))
    if not quads:
        return []
    labels = {q[0]: why.get(f"{q[0].split('.running')[0]} / {q[0].split(' / ')[1]}", "") for q in quads}
    return _judged(quads, "running_stats_f32", why=labels)


# --- gradients ---------------------------------------------------------------------------------------------

def _weights_differ(torch_side, keras_side, lmap: LayerMap) -> str | None:
    for pair in lmap.weighted():
        kw = keras_side.weights_of(pair.keras.layer)
        for tensor, value in torch_side.weights_of(pair.torch.layer).items():
            if tensor in kw and not np.allclose(to_torch(pair, tensor, kw[tensor]), value, rtol=1e-6, atol=1e-7):
                return f"{pair.torch.name}.{tensor}"
    return None


def compare_gradients(torch_model, keras_model, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy",
                      mode: str = "eval", name_map: dict | None = None, tolerance: str = "grad_f32") -> Comparison:
    """d loss / d every parameter, torch against Keras (in torch's layout), with the float32 noise of a float64
    torch copy; Dropout off on both sides. The models must hold the same weights (port_weights first)."""
    if mode not in MODES:
        raise ParityError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    started = time.perf_counter()
    torch_side, keras_side = _sides()
    x = np.asarray(x, np.float32)
    lmap = layer_map(torch_model, keras_model, x, name_map)
    differing = _weights_differ(torch_side, keras_side, lmap)
    if differing:
        raise ParityError(f"compare_gradients: the models' weights differ ({differing}); port them first "
                          f"(parity.testing.port_weights)")
    reference = torch_side.float64_copy(torch_model)
    saved = _save_stats(torch_side, keras_side, lmap)
    drops = (torch_side.set_dropout(torch_model, 0.0), keras_side.set_dropout(keras_model, 0.0))
    torch_side.set_dropout(reference, 0.0)
    try:
        training = mode == "train"
        tg = torch_side.gradients(torch_model, x, y, loss, training)
        rg = torch_side.gradients(reference, x.astype(np.float64), y, loss, training)
        kg = keras_side.gradients(keras_model, x, y, loss, training)
    finally:
        torch_side.set_dropout(torch_model, None, drops[0])
        keras_side.set_dropout(keras_model, None, drops[1])
        _restore_stats(torch_side, keras_side, saved)
    quads = []
    for pair in lmap.weighted():
        for tensor in torch_side.weights_of(pair.torch.layer):
            key = f"{pair.torch.name}.{tensor}"
            if key in tg["grads"] and (pair.keras.name, tensor) in kg["grads"]:
                quads.append((f"{key} / {pair.keras.name}", tg["grads"][key],
                              to_torch(pair, tensor, kg["grads"][(pair.keras.name, tensor)]), rg["grads"].get(key)))
    rows = _judged(quads, tolerance, why=_why(lmap))
    loss_row = measure_pair(np.float64(tg["loss"]), np.float64(kg["loss"]), rg["loss"])
    notes = list(lmap.notes.values()) + [f"loss: torch {tg['loss']:.7g}, Keras {kg['loss']:.7g} "
                                         f"(max abs {loss_row['max_abs']:.2g})"]
    return _record(Comparison(f"gradients ({mode}, {loss})", tolerance, rows, notes), started)


# --- training ----------------------------------------------------------------------------------------------

def _keras_form(torch_hyper: dict) -> optim.Optimizer:
    """torch's Adam hyper-parameters in Keras' Adam form (epsilon hat, decoupled decay): what a faithful Keras
    port's optimizer computes, step by step, in float64."""
    wd = torch_hyper["weight_decay"]
    mode = "none" if not wd else "decoupled" if torch_hyper["decoupled"] else "l2"
    return optim.Optimizer(name="torch_in_keras_form", source="torch's Adam hyper-parameters in Keras' Adam form",
                           beta1=torch_hyper["beta1"], beta2=torch_hyper["beta2"], eps=torch_hyper["eps"],
                           eps_style="keras", weight_decay=wd, decay_mode=mode)


def compare_training(torch_model, torch_optimizer, keras_model, keras_optimizer, batches, steps: int = 20,
                     loss: str = "cross_entropy", name_map: dict | None = None) -> Comparison:
    """`steps` training steps on both sides over `batches` ((x, y) pairs, cycled), Dropout off on both sides.
    After each step: every parameter and BN statistic torch against Keras, Adam's moments torch against Keras,
    and, for Adam on both sides, each Keras update against torch's hyper-parameters applied in Keras' own Adam
    form in float64 (so a Keras epsilon, beta or decay that is not torch's is caught at its first step, apart
    from the epsilon-hat form both frameworks' Adams differ by). The first row over tolerance names its step and
    tensor. The models must start from the same weights (port_weights)."""
    started = time.perf_counter()
    torch_side, keras_side = _sides()
    batches = list(batches)
    if not batches:
        raise ParityError("compare_training needs at least one (x, y) batch")
    x0 = np.asarray(batches[0][0], np.float32)
    lmap = layer_map(torch_model, keras_model, x0, name_map)
    differing = _weights_differ(torch_side, keras_side, lmap)
    if differing:
        raise ParityError(f"compare_training: the models' weights differ before the first step ({differing}); "
                          f"port them first (parity.testing.port_weights)")
    twin = torch_side.float64_copy(torch_model)  # the float64 reference every torch tensor's noise is read from
    twin_optimizer = type(torch_optimizer)(twin.parameters(), **torch_optimizer.defaults)
    th, kh = torch_side.adam_hyper(torch_optimizer), keras_side.adam_hyper(keras_optimizer)
    form = _keras_form(th) if th and kh else None
    reference_state: dict = {}  # the float64 Adam state of torch's hyper-parameters in Keras' form, per tensor
    why = _why(lmap)
    drops = (torch_side.set_dropout(torch_model, 0.0), keras_side.set_dropout(keras_model, 0.0))
    torch_side.set_dropout(twin, 0.0)
    rows: list = []
    try:
        for step, (x, y) in zip(range(1, steps + 1), itertools.cycle(batches)):
            before = {(p.torch.name, t): v for p in lmap.weighted()
                      for t, v in keras_side.weights_of(p.keras.layer).items()}
            torch_side.train_step(torch_model, torch_optimizer, x, y, loss)
            torch_side.train_step(twin, twin_optimizer, np.asarray(x, np.float64), y, loss)
            grads = keras_side.train_step(keras_model, keras_optimizer, x, y, loss)["grads"]
            rows += _step_rows(torch_side, keras_side, lmap, step, (torch_optimizer, twin, twin_optimizer),
                               keras_optimizer, why)
            if form:
                rows += _update_rows(keras_side, lmap, step, before, grads, form, th["lr"], reference_state)
    finally:
        torch_side.set_dropout(torch_model, None, drops[0])
        keras_side.set_dropout(keras_model, None, drops[1])
    notes = list(lmap.notes.values())
    if form:
        differs = [f"{k}: torch {th[k]:g}, Keras {kh[k]:g}" for k in ("beta1", "beta2", "eps", "weight_decay", "lr")
                   if abs(th[k] - kh[k]) > 1e-12 * max(1.0, abs(th[k]))]
        notes += [f"Adam hyper-parameters that differ: {'; '.join(differs)}"] if differs else []
        notes.append("torch's Adam adds eps to sqrt(v / bc2), Keras' to sqrt(v) (epsilon hat): parameters drift "
                     "apart by that form alone, so torch-vs-Keras parameters are measured, and each Keras update is "
                     "judged against torch's hyper-parameters in Keras' form")
    return _record(Comparison(f"training ({steps} steps, {loss})", "train_f32", rows, notes), started)


def _step_rows(torch_side, keras_side, lmap: LayerMap, step: int, torch_run: tuple, kopt, why: dict) -> list[dict]:
    """After one step: parameters (judged unless both sides run Adam, whose forms drift apart by design), Adam's
    moments and the BN statistics, torch against Keras, each against its float32 noise in the float64 twin."""
    topt, twin, twin_opt = torch_run
    twins = dict(twin.named_modules())
    params, moments, stats = [], [], []
    for pair in lmap.weighted():
        kw = keras_side.weights_of(pair.keras.layer)
        rw = torch_side.weights_of(twins[pair.torch.name])
        for tensor, value in torch_side.weights_of(pair.torch.layer).items():
            name = f"{pair.torch.name}.{tensor} / {pair.keras.name}"
            if tensor.startswith("running_"):
                stats.append((name, value, kw[tensor], rw[tensor]))
                continue
            params.append((name, value, to_torch(pair, tensor, kw[tensor]), rw[tensor]))
            ts = torch_side.optimizer_state(topt, pair.torch.layer, tensor)
            ks = keras_side.optimizer_state(kopt, pair.keras.layer, tensor)
            rs = torch_side.optimizer_state(twin_opt, twins[pair.torch.name], tensor)
            for moment in ts:
                if moment in ks:
                    moments.append((f"{pair.torch.name}.{tensor}.{moment} / {pair.keras.name}", ts[moment],
                                    to_torch(pair, tensor, ks[moment]), rs.get(moment)))
    # two Adams differ in form (epsilon hat): from step 2 the sides hold different weights, so what follows from
    # them is measured, not judged; each Keras update is judged against torch's hyper-parameters instead
    both_adam = bool(moments)
    judged = not both_adam or step == 1
    rows = _judged(params, "train_f32", judged=not both_adam, step=step, floor=True) if params else []
    rows += _judged(moments, "train_f32", judged=judged, step=step, floor=True) if moments else []
    stat_why = {n: why.get(f"{n.split('.running')[0]} / {n.split(' / ')[1]}", "") for n, *_ in stats}
    rows += _judged(stats, "running_stats_f32", judged=judged, step=step, why=stat_why, floor=True) if stats else []
    return rows


def _update_rows(keras_side, lmap: LayerMap, step: int, before: dict, grads: dict, form, lr: float,
                 state: dict) -> list[dict]:
    """Each Keras update against `form` applied in float64 to the same parameters and gradients, relative to the
    largest element of the reference update (a step moves every element by about lr in Adam)."""
    quads = []
    for pair in lmap.weighted():
        after = keras_side.weights_of(pair.keras.layer)
        for tensor in after:
            key = (pair.keras.name, tensor)
            if key not in grads:
                continue
            p0 = before[(pair.torch.name, tensor)].astype(np.float64)
            ref = {tensor: p0.copy()}
            optim.reference_step(form, ref, {tensor: grads[key].astype(np.float64)}, state.setdefault(key, {}), lr,
                                 step)
            quads.append((f"{pair.torch.name}.{tensor} update / {pair.keras.name}", after[tensor] - p0,
                          ref[tensor] - p0, None))
    rows = _judged(quads, "train_f32", step=step)
    for r in rows:
        r["why"] = "Keras' update is not torch's hyper-parameters in Keras' Adam form"
    return rows


# --- assertions ---------------------------------------------------------------------------------------------

def _assert(comparison: Comparison) -> Comparison:
    if not comparison.ok:
        raise AssertionError(comparison.message() + ("\nnotes: " + "; ".join(comparison.notes)
                                                     if comparison.notes else ""))
    return comparison


def assert_forward_close(*args, **kwargs) -> Comparison:
    """compare_forward, failing with the first layer over tolerance (its error, the tolerance, the noise ratio)."""
    return _assert(compare_forward(*args, **kwargs))


def assert_gradients_close(*args, **kwargs) -> Comparison:
    return _assert(compare_gradients(*args, **kwargs))


def assert_training_close(*args, **kwargs) -> Comparison:
    return _assert(compare_training(*args, **kwargs))

