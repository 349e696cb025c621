"""The patches a program runs under while it is captured, installed as each library is imported:

- the first training call raises `Stopped` (a BaseException: a program's `except Exception` cannot swallow it),
  carrying the object, the arguments and the line of the program that called it;
- pretrained-weight downloads are intercepted: the program gets the architecture with fresh weights, and the
  weights' tag is recorded (torchvision's WeightsEnum, fastai 1's `arch(pretrained)`, keras.applications' file);
- the objects a reader needs later are recorded (Keras' image_dataset_from_directory calls, torch DataLoaders,
  LR schedulers, the modules a plain torch loop calls), and the image readers return their files in order.

Every patch is a closure over one `Session`; nothing here imports a framework before the program does.
"""

from __future__ import annotations

import functools
import inspect
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from parity.capture.imports import when_imported

FASTAI_V1_CALLS = ("fit_one_cycle", "fit_fc", "fit")  # fastai/train.py adds the first two to Learner
FASTAI_V2_CALLS = ("fine_tune", "fit_one_cycle", "fit_flat_cos", "fit_sgdr", "fit")  # callback/schedule.py
INTERCEPTED = "<parity capture: download intercepted>"


class Stopped(BaseException):
    """Raised by the program's first training call."""

    def __init__(self, library: str, call: str, obj, args: tuple, kwargs: dict, where: str, arguments: dict):
        super().__init__(f"stopped at {call}")
        self.library, self.call, self.obj, self.args, self.kwargs, self.where = library, call, obj, args, kwargs, where
        self.arguments = arguments  # the call's arguments by name, defaults applied


@dataclass
class Session:
    """What the patches record while the program runs."""
    program: Path
    weights: list = field(default_factory=list)  # (tag, what asked for it)
    keras_readers: list = field(default_factory=list)  # (directory, kwargs, dataset)
    keras_bodies: list = field(default_factory=list)  # application models whose weights were asked for
    loaders: list = field(default_factory=list)  # torch DataLoaders, in creation order
    schedulers: list = field(default_factory=list)  # torch LR schedulers
    called: list = field(default_factory=list)  # root torch modules called, in order (at most one entry each)
    learner_calls: list = field(default_factory=list)  # (function name, its bound arguments with defaults)

    def where(self) -> str:
        """file:line of the innermost frame of the program itself on the current stack."""
        target = str(self.program.resolve())
        for info in inspect.stack(0):
            if str(Path(info.filename).resolve()) == target:
                return f"{self.program.name}:{info.lineno}"
        return self.program.name


def _stopper(session: Session, library: str, call: str, real):
    """A training method that raises Stopped with its arguments bound to `real`'s signature, defaults applied."""
    def stop(self, *args, **kwargs):
        try:
            bound = inspect.signature(real).bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = dict(list(bound.arguments.items())[1:])
        except TypeError:  # the program's own call is wrong: the method would raise too
            arguments = {}
        raise Stopped(library, call, self, args, kwargs, session.where(), arguments)
    stop.__name__ = call
    stop._parity = True
    return stop


def install(session: Session) -> None:
    when_imported("fastai.basic_train", functools.partial(_fastai_v1_learner, session))
    when_imported("fastai.train", functools.partial(_fastai_v1_learner, session))
    when_imported("fastai.vision.learner", functools.partial(_fastai_v1_body, session))
    when_imported("fastai.vision.learner", functools.partial(_fastai_learner_calls, session))
    when_imported("fastai.learner", functools.partial(_fastai_v2_learner, session))
    when_imported("fastai.callback.schedule", functools.partial(_fastai_v2_learner, session))
    when_imported("keras", functools.partial(_keras, session))
    when_imported("torch", functools.partial(_torch, session))
    when_imported("torchvision.models._api", functools.partial(_torchvision_weights, session))


def _fastai_version() -> str:
    return getattr(sys.modules.get("fastai"), "__version__", "")


def _fastai_v1_learner(session: Session, module) -> None:
    if not _fastai_version().startswith("1."):
        return
    from fastai.basic_train import Learner

    for call in FASTAI_V1_CALLS:
        if call in vars(Learner) and not getattr(vars(Learner)[call], "_parity", False):
            setattr(Learner, call, _stopper(session, "fastai1", call, vars(Learner)[call]))


def _fastai_v2_learner(session: Session, module) -> None:
    if _fastai_version().startswith("1."):
        return
    from fastai.learner import Learner

    for call in FASTAI_V2_CALLS:
        if call in vars(Learner) and not getattr(vars(Learner)[call], "_parity", False):
            setattr(Learner, call, _stopper(session, "fastai2", call, vars(Learner)[call]))


def _fastai_v1_body(session: Session, module) -> None:
    """fastai 1 calls `arch(pretrained)` positionally, which torchvision >= 0.13 refuses: the body is built
    with `pretrained=` by keyword (torchvision's legacy name, mapped to the weights fastai 1 loaded) and the
    download is intercepted like any torchvision one; the cut is fastai's own for `arch`."""
    if not _fastai_version().startswith("1.") or not hasattr(module, "cnn_config"):
        return
    real = module.create_body

    def create_body(arch, pretrained=True, cut=None):
        cut = cut if cut is not None else module.cnn_config(arch)["cut"]
        with warnings.catch_warnings():  # torchvision's notice that `pretrained` is deprecated: parity's doing
            warnings.simplefilter("ignore", UserWarning)
            return real(lambda p: arch(pretrained=p), pretrained, cut)

    module.create_body = create_body


def _fastai_learner_calls(session: Session, module) -> None:
    """cnn_learner / vision_learner: their arguments with defaults (the head's init is one), recorded."""
    for name in ("cnn_learner", "vision_learner"):
        real = getattr(module, name, None)
        if real is None or getattr(real, "_parity", False):
            continue

        def recorded(*args, _real=real, _name=name, **kwargs):
            bound = inspect.signature(_real).bind(*args, **kwargs)
            bound.apply_defaults()
            session.learner_calls.append((_name, dict(bound.arguments)))
            return _real(*args, **kwargs)

        functools.update_wrapper(recorded, real)
        recorded._parity = True
        setattr(module, name, recorded)


def _keras(session: Session, module) -> None:
    from keras.src.models.model import Model
    from keras.src.utils import file_utils

    Model.fit = _stopper(session, "keras", "fit", Model.fit)
    real_get_file = file_utils.get_file

    def get_file(fname=None, origin=None, *args, **kwargs):
        if origin is None or not str(origin).startswith(("http://", "https://")):
            return real_get_file(fname, origin, *args, **kwargs)
        session.weights.append((str(fname or origin), "keras.applications"))
        return f"{INTERCEPTED} {fname}"

    file_utils.get_file = get_file
    real_load = Model.load_weights

    def load_weights(self, filepath, *args, **kwargs):
        if str(filepath).startswith(INTERCEPTED):
            session.keras_bodies.append(self)
            return None
        return real_load(self, filepath, *args, **kwargs)

    Model.load_weights = load_weights
    _keras_reader(session)


def _keras_reader(session: Session) -> None:
    """image_dataset_from_directory, everywhere a namespace holds it: its arguments recorded, its files in
    order (the program's `shuffle` is read from the arguments; the batches a reader compares follow the files)."""
    from keras.src.utils import image_dataset_utils

    real = image_dataset_utils.image_dataset_from_directory

    @functools.wraps(real)
    def reader(directory, *args, **kwargs):
        bound = inspect.signature(real).bind(directory, *args, **kwargs)
        dataset = real(*bound.args, **{**bound.kwargs, "shuffle": False})
        session.keras_readers.append((str(directory), dict(bound.arguments), dataset))
        return dataset

    def swap(module) -> None:
        for name, value in list(vars(module).items()):
            if value is real:
                setattr(module, name, reader)

    for name in [n for n in sys.modules if n == "keras" or n.startswith("keras.")]:
        swap(sys.modules[name])
    for name in ("keras._tf_keras.keras.utils", "keras.utils"):  # tf.keras loads its namespace lazily
        when_imported(name, swap)


def _torch(session: Session, module) -> None:
    import torch
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    def first_step(optimizer, args, kwargs):
        raise Stopped("torch", "optimizer.step", optimizer, args, kwargs, session.where(), {})

    # fastai's own loops stop earlier, at Learner.fit; a plain loop stops at its first step
    register_optimizer_step_pre_hook(first_step)
    real_loader_init = torch.utils.data.DataLoader.__init__

    def loader_init(self, *args, **kwargs):
        real_loader_init(self, *args, **kwargs)
        session.loaders.append((self, inspect.signature(real_loader_init).bind(self, *args, **kwargs).arguments))

    torch.utils.data.DataLoader.__init__ = loader_init
    real_sched_init = torch.optim.lr_scheduler.LRScheduler.__init__

    def sched_init(self, *args, **kwargs):
        session.schedulers.append(self)
        real_sched_init(self, *args, **kwargs)

    torch.optim.lr_scheduler.LRScheduler.__init__ = sched_init
    from parity.capture.read_torch import one_cycle_epochs

    one_cycle_epochs(torch.optim.lr_scheduler.OneCycleLR)
    depth = [0]

    def before(mod, args):
        depth[0] += 1
        if depth[0] == 1 and all(m is not mod for m, _ in session.called):
            session.called.append((mod, args))

    def after(mod, args, output):
        depth[0] -= 1

    torch.nn.modules.module.register_module_forward_pre_hook(before)
    torch.nn.modules.module.register_module_forward_hook(after, always_call=True)
    _torch_state_dicts()


class Intercepted(dict):
    """What an intercepted torchvision download returns: `load_state_dict` keeps the fresh weights."""


def _torch_state_dicts() -> None:
    import torch

    real = torch.nn.Module.load_state_dict

    def load_state_dict(self, state_dict, *args, **kwargs):
        if isinstance(state_dict, Intercepted):
            return torch.nn.modules.module._IncompatibleKeys([], [])
        return real(self, state_dict, *args, **kwargs)

    torch.nn.Module.load_state_dict = load_state_dict


def _torchvision_weights(session: Session, module) -> None:
    def get_state_dict(self, *args, **kwargs):
        session.weights.append((f"{type(self).__name__}.{self.name}", "torchvision"))
        return Intercepted()

    module.WeightsEnum.get_state_dict = get_state_dict
