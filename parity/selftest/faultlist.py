"""The self-test's catalogue: bugs people hit when porting between fastai/PyTorch and Keras, each planted as
data (parity.selftest.faults applies it inside the processes it touches) with the case that must catch it and, for
layer-wise or per-tensor cases, what that case must name first.

side: 'torch' or 'keras' (one backend's mirror is wrong; the other and the float64 reference are not), or
'spec' (a shared table is wrong: both mirrors and the reference follow it, so only an oracle case can see it).
A fault that no case is expected to catch says why in `blind_spot`: the self-test reports it as a known miss.
"""

from __future__ import annotations

from dataclasses import dataclass

from parity.core.errors import unknown


@dataclass(frozen=True)
class Patch:
    module: str
    target: str  # 'name' or 'name[key]' (see parity.selftest.faults)
    how: str  # a parity.selftest.faults.WRAPPERS key, 'alias' or 'fields'
    params: tuple = ()


@dataclass(frozen=True)
class Fault:
    id: str
    component: str  # the component whose cases run with the fault applied
    side: str  # 'torch', 'keras' or 'spec'
    story: str  # the real-world bug it imitates, in one line
    patches: tuple
    detect: str  # the case id that must fail, or an oracle test's pytest node ('tests/...py::test_name')
    first: str | None = None  # the layer / tensor / field that case must name first
    blind_spot: str = ""  # why no case is expected to catch it (a known miss), else empty

    @property
    def oracle(self) -> bool:
        """Caught by an oracle test (run by parity.selftest.plantedtests), not by a parity case."""
        return "::" in self.detect

    def __post_init__(self):
        if self.side not in SIDES:
            raise unknown("fault side", self.side, SIDES)


SIDES = ("torch", "keras", "spec")
K = "keras_impl"
TRAIN_F64 = "train.steps.resnet18.fastai_v1.train_bn.3e-3.f64"
TRAIN_KERAS = "train.steps.efficientnet_lite0.keras_thread.frozen.3e-3"
LOOP = "train.loop"
ORACLE_V1 = "tests/test_oracle_fastai_v1.py::"  # fastai 1.0.61 itself (nox -s oracle_v1)
EVAL_KERAS = "train.evaluate.efficientnet_lite0.keras_thread.frozen.3e-3"
EVAL_DROPOUT = "train.evaluate.dropout.resnet18.fastai_v1.frozen.3e-3"
TRACED = "train.loop.traced"


def _p(module: str, target: str, how: str, *params) -> Patch:
    return Patch(module, target, how, tuple(params))


def _alias(module: str, method: str, instead: str) -> tuple:
    return (_p(f"{module}.resize", f"METHODS[{method}]", "alias", instead),)


def _keras_row(when: dict, changes: dict) -> tuple:
    return (_p(f"{K}.optim", "_one", "row_fields", 0, when, changes),)


FAULTS = {f.id: f for f in [
    # --- data ------------------------------------------------------------------------------------------
    Fault("data-bgr-keras", "data", "keras", "cv2.imread's BGR image fed to an RGB model in the Keras port",
          (_p(f"{K}.data", "decode_image", "output_when", -1, None, "flip_channels"),),
          "data.decode.accurate.photos"),
    Fault("data-std-typo-keras", "data", "keras", "ImageNet std typed (0.229, 0.224, 0.255) in a hand-written "
          "Keras preprocessing Lambda", (_p(f"{K}.data", "normalize", "output_when", 1, "torch", "scale_channel", 2,
                                             0.225 / 0.255),), "data.normalize.torch"),
    Fault("data-tf-mode-as-unit-keras", "data", "keras", "preprocess_input(mode='tf') replaced by x / 255 "
          "(0..1 instead of -1..1)", (_p(f"{K}.data", "normalize", "output_when", 1, "tf", "affine", 0.5, 0.5),),
          "data.normalize.tf"),
    Fault("data-own-order-keras", "data", "keras", "tf.data reads files in directory order instead of the "
          "shared shuffled sampler", (_p(f"{K}.data", "loader_batches", "args", "sorted_order", 2),),
          "data.batches.shared_order"),
    Fault("data-drop-last-ignored-spec", "data", "spec", "the training loader keeps its last partial batch "
          "although fastai's drops it (drop_last ignored)",
          (_p("parity.components.data", "batch_order", "kwarg", "drop_last", False),),
          "data.drop_last"),
    # --- resize -----------------------------------------------------------------------------------------
    Fault("resize-align-corners-keras", "resize", "keras", "fastai 1's grid_sample rebuilt with "
          "align_corners=False (the torch >= 1.3 default) in the Keras port",
          _alias(K, "fastai_v1", "fastai_v1_legacy"),
          "resize.fastai_v1.32x32-64"),
    Fault("resize-align-corners-torch", "resize", "torch", "F.interpolate(align_corners=True) used to "
          "'match' tf.image.resize, which samples half-pixel centres", _alias("torch_impl", "tf_resize",
                                                                            "interpolate_ac"),
          "resize.tf_resize.32x32-64"),
    Fault("resize-no-antialias-keras", "resize", "keras", "tf.image.resize without antialias standing in for "
          "torchvision's antialiased Resize on a 6x downsample", _alias(K, "torchvision", "torchvision_noaa"),
          "resize.torchvision.384x384-64"),
    Fault("resize-stretch-not-crop-keras", "resize", "keras", "image_dataset_from_directory without "
          "crop_to_aspect_ratio where the reader was meant to crop", _alias(K, "keras_smart_resize", "tf_resize"),
          "resize.keras_smart_resize.427x640-64"),
    Fault("resize-nearest-rule-keras", "resize", "keras", "TF's half-pixel nearest standing in for torch's "
          "floor nearest", _alias(K, "torch_nearest", "tf_nearest"), "resize.torch_nearest.384x384-64"),
    Fault("resize-train-crop-xy-keras", "resize", "keras", "fastai's training-crop position read as (row, col) "
          "where Resize.before_call draws it as (x, y): the box slides along the wrong axis",
          (_p("parity.components.resize", "fastai_v2_crop_box", "args", "swap_pair", 3),),
          "resize.load.fastai_v2.train_crop"),
    Fault("resize-crop-box-spec", "spec", "spec", "fastai 2's centre crop computed without its column offset "
          "(the box anchored at the left edge of a landscape photo)",
          (_p("parity.components.resize", "fastai_v2_crop_box", "output_when", -1, None, "scale_item", 1, 0),),
          "spec.resize.fastai_v2.valid_crop"),
    # --- bodies and weight porting -----------------------------------------------------------------------
    Fault("body-bn-eps-keras", "model", "keras", "Keras BatchNormalization left at its epsilon 1e-3 where "
          "torch uses 1e-5", (_p(f"{K}.models", "_bn", "set_on_result", "epsilon", 1e-3),),
          "model.resnet18.64.infer", first="bn1"),
    Fault("body-bn-momentum-keras", "train", "keras", "torch's BN momentum 0.1 passed to Keras as momentum=0.1 "
          "(Keras keeps 1 - momentum of the old value)", (_p(f"{K}.models", "_bn", "set_on_result", "momentum", 0.1),),
          TRAIN_F64, first="body.bn1.running_mean"),
    Fault("body-same-padding-keras", "model", "keras", "Conv2D(padding='same') where torch pads "
          "symmetrically: stride-2 convolutions shift by one pixel", (_p(f"{K}.models", "_conv", "args",
                                                                         "tf_same_padding", 3, 4),),
          "model.resnet18.64.infer", first="conv1"),
    Fault("port-kernel-transpose-keras", "model", "keras", "OIHW -> HWIO written as a plain transpose "
          "(OIHW -> WHIO): square kernels load, mirrored", (_p(f"{K}.models", "load_state", "args", "state", 1,
                                                               "transpose_hw"),
                                                            _p(f"{K}.classifier", "load_state", "args", "state", 1,
                                                               "transpose_hw")),
          "model.resnet18.64.infer", first="conv1"),
    Fault("port-mean-var-swapped-keras", "model", "keras", "BN moving_mean and moving_variance ported in the "
          "wrong order", (_p(f"{K}.models", "load_state", "args", "state", 1, "swap_mean_var"),
                          _p(f"{K}.classifier", "load_state", "args", "state", 1, "swap_mean_var")),
          "model.resnet18.64.infer", first="bn1"),
    Fault("port-head-var-as-std-keras", "head", "keras", "a head BatchNorm1d's running_var ported as its standard "
          "deviation (moving_variance given sqrt(var))",
          (_p(f"{K}.models", "load_state", "args", "state", 1, "head_var_as_std"),
           _p(f"{K}.classifier", "load_state", "args", "state", 1, "head_var_as_std")),
          "head.fastai_v1.ported", first="head.2.running_var"),
    Fault("port-square-dense-untransposed-keras", "head", "keras", "a Linear weight loaded into a Dense kernel "
          "without the (out, in) -> (in, out) transpose: only a square one passes the shape assertions",
          (_p(f"{K}.models", "load_state", "args", "state", 1, "square_untransposed"),
           _p(f"{K}.classifier", "load_state", "args", "state", 1, "square_untransposed")),
          "head.fastai_v1_square.ported",
          first="head.4.weight"),
    # --- heads and init ------------------------------------------------------------------------------------
    Fault("head-pool-order-keras", "head", "keras", "concatenate([avg, max]) where fastai's "
          "AdaptiveConcatPool2d is (max, avg)", (_p(f"{K}.heads", "_pool", "args", "swap_pool", 0),),
          "head.fastai_v1.infer", first="head.0"),
    Fault("head-dropout-keep-prob-keras", "head", "keras", "fastai's ps passed to Keras as 1 - p (TF1's "
          "tf.nn.dropout took keep_prob, Keras' Dropout takes the rate)",
          (_p("parity.components.heads", "linear_layers", "output_when", -1, None, "keep_prob_as_rate"),),
          "head.fastai_v1.dropout", first="head.3 dropped fraction"),
    Fault("head-thread-pool-order-spec", "head", "spec", "the thread's Keras head recorded with fastai's pool "
          "order (max, avg); its code concatenates [avg, max]",
          (_p("parity.components.heads", "HEADS[keras_thread]", "fields", {"pool": "max_avg"}),),
          "head.keras_thread.literal", first="probabilities"),
    Fault("head-thread-dropout-spec", "head", "spec", "the thread's Keras head recorded with fastai 1's ps "
          "[0.25, 0.5]; its code has Dropout(0.25) twice",
          (_p("parity.components.heads", "HEADS[keras_thread]", "fields", {"dropout": (0.25, 0.5)}),),
          "head.keras_thread.literal", first="Dropout.rate"),
    Fault("head-init-fan-out-torch", "init", "torch", "kaiming_normal_ with mode='fan_out' (torchvision's conv "
          "default) for the head's Linear", (_p("torch_impl.heads", "sample_init", "output_when", 0, "kaiming_normal",
                                               "affine", 2 ** 0.5, 0.0),),
          "init.kaiming_normal"),
    Fault("head-keras-bn-momentum-spec", "spec", "spec", "the thread's Keras head recorded with torch's BN "
          "momentum 0.1 instead of Keras' 0.99 (0.01 in torch's convention)",
          (_p("parity.components.heads", "HEADS[keras_thread]", "fields", {"bn_torch_momentum": 0.1}),),
          "spec.keras_thread.bn_defaults", first="bn_torch_momentum"),
    Fault("grad-summed-loss-keras", "grad", "keras", "a custom Keras train step that sums the per-sample "
          "cross-entropy where torch's CrossEntropyLoss takes the batch mean: every gradient 10x at batch 10",
          (_p(f"{K}.classifier", "per_sample_loss", "scale_when", "ce_logits", 10.0),),
          "grad.resnet18.keras_thread.frozen", first="head.2.bias"),
    Fault("head-fastai-v1-ps-spec", "spec", "spec", "fastai 1's head recorded with ps=0.5 on both dropouts "
          "(create_head halves the first: [0.25, 0.5])",
          (_p("parity.components.heads", "HEADS[fastai_v1]", "fields", {"dropout": (0.5, 0.5)}),),
          ORACLE_V1 + "test_create_head_is_the_fastai_v1_row"),
    Fault("schedule-v1-pct-start-spec", "spec", "spec", "fastai 1's fit_one_cycle recorded with fastai 2's "
          "pct_start 0.25 (fastai 1 warms up over the first 30% of the batches)",
          (_p("parity.components.schedules", "SCHEDULES[fastai_v1_one_cycle]", "fields", {"pct_start": 0.25}),),
          ORACLE_V1 + "test_fit_one_cycle_lr_and_momentum_are_the_fastai_v1_schedule"),
    Fault("optim-v1-betas-spec", "spec", "spec", "fastai 1's optimizer recorded with torch Adam's default betas "
          "(0.9, 0.999), not cnn_learner's AdamW partial(Adam, betas=(0.9, 0.99))",
          (_p("parity.components.optim", "OPTIMIZERS[fastai_v1_adamw_l2]", "fields", {"beta2": 0.999}),),
          ORACLE_V1 + "test_optim_wrapper_steps_are_the_fastai_v1_rows"),
    # --- optimizers and LR groups -----------------------------------------------------------------------
    Fault("optim-eps-hat-keras", "optim", "keras", "keras.optimizers.Adam standing in for torch's Adam: "
          "epsilon added to sqrt(v) (epsilon hat), not to the bias-corrected sqrt(v_hat)",
          _keras_row({"eps_style": "torch"}, {"eps_style": "keras"}), "optim.torch_adam",
          first="step 1 body.layer1.0.conv1.weight"),
    Fault("optim-beta2-keras", "optim", "keras", "fastai's Adam betas (0.9, 0.99) ported with Keras' default "
          "beta_2=0.999", _keras_row({"beta2": 0.99}, {"beta2": 0.999}), "optim.fastai_v1_adamw_l2",
          first="step 2 head.4.bias"),
    Fault("optim-coupled-decay-keras", "optim", "keras", "true_wd=True (decoupled) ported as L2 added to "
          "the gradient", _keras_row({"decay_mode": "decoupled"}, {"decay_mode": "l2"}),
          "optim.fastai_v1_adamw", first="step 1 body.layer1.0.conv1.weight"),
    Fault("optim-bn-wd-torch", "optim", "torch", "bn_wd=True lost: no decay on BN weights and biases",
          (_p("torch_impl.optim", "_param_groups", "row_fields", 0, {"decay_mode": "l2"},
              {"decay_norm_bias": False}),), "optim.fastai_v1_adamw_l2",
          first="step 1 body.layer1.0.bn1.weight"),
    Fault("optim-keras-eps-spec", "spec", "spec", "the keras_adam row given torch's epsilon 1e-8 (Keras' "
          "default is 1e-7)", (_p("parity.components.optim", "OPTIMIZERS[keras_adam]", "fields", {"eps": 1e-8}),),
          "spec.optimizer.keras_adam", first="eps"),
    Fault("optim-adamw-decay-spec", "spec", "spec", "torch.optim.AdamW recorded with Keras AdamW's weight "
          "decay 0.004 (torch's default is 0.01)",
          (_p("parity.components.optim", "OPTIMIZERS[torch_adamw]", "fields", {"weight_decay": 4e-3}),),
          "spec.optimizer.torch_adamw", first="weight_decay"),
    Fault("lr-slice-spec", "spec", "spec", "slice(3e-3) split as 3e-5, 3e-4, 3e-3 (a decade per group) "
          "instead of fastai's stop/10 for every body group",
          (_p("parity.components.optim", "group_lrs", "output_when", -1, None, "scale_item", 0, 0.1),),
          "spec.slice.3e-3", first="group 0"),
    Fault("lr-one-group-keras", "train", "keras", "the Keras port applies the head's LR to every layer group "
          "(one optimizer for the whole model)",
          (_p(f"{K}.classifier", "set_lrs", "args", "last_lr_everywhere", 1),), TRAIN_F64, first="losses"),
    Fault("lr-group-stage-keras", "optim", "keras", "the Keras port buckets layer2's parameters (Lite0: blocks "
          "4-7) with the later body group: their BatchNorms train at 1e-3 instead of 1e-4",
          (_p(f"{K}.classifier", "build_optimizer", "args", "regroup", 2,
              r"^body\.(layer2\.|_blocks\.[4-7]\.)", 1),),
          "optim.groups.resnet18", first="body.layer2.0.bn1.weight"),
    # --- schedules and loss ------------------------------------------------------------------------------
    Fault("schedule-momentum-keras", "schedule", "keras", "one-cycle momentum dipping to 0.9 in a Keras "
          "callback where fastai's goes down to 0.85",
          (_p(f"{K}.schedules", "lr_schedule", "args", "map_arg", 3, "scale_item", 1, 0.9 / 0.85),),
          "schedule.fastai_v2_one_cycle", first="momentum"),
    Fault("schedule-div-keras", "schedule", "keras", "one-cycle's start LR lr_max/25 typed lr_max/10",
          (_p(f"{K}.schedules", "lr_schedule", "args", "map_arg", 2, "scale_item", 0, 2.5),),
          "schedule.fastai_v1_one_cycle", first="lr"),
    Fault("loss-weighted-keras", "loss", "keras", "a stray class weight of 1.001 left in model.fit's "
          "sparse categorical cross-entropy", (_p(f"{K}.loss", "per_sample_loss", "scale_when", "ce_logits",
                                                  1.001),), "loss.ce_logits", first="loss"),
    # --- the training loop and evaluation ----------------------------------------------------------------
    Fault("train-eval-training-mode-keras", "train", "keras", "evaluation in a custom Keras loop calls "
          "model(x) with training=True (BN on batch statistics)",
          (_p(f"{K}.classifier", "evaluate", "evaluate_in_training_mode"),), EVAL_KERAS, first="logits"),
    Fault("train-eval-dropout-active-keras", "train", "keras", "a custom Keras head whose Dropout layers are called "
          "with training=True: evaluation keeps dropping (BN stays in inference mode)",
          (_p(f"{K}.classifier", "evaluate", "dropout_active_in_evaluate"),), EVAL_DROPOUT, first="logits"),
    Fault("train-traced-momentum-frozen-keras", "train", "keras", "a traced (tf.function) Keras update under a "
          "one-cycle momentum: beta_1 is read once, when the update is traced, and frozen there",
          (_p(f"{K}.classifier", "_update_function", "args", "none_at", 2),), TRACED, first="step 2 head.2.weight"),
    Fault("train-keeps-last-batch-keras", "train", "keras", "the Keras run keeps its last partial batch although "
          "the recipe says drop_last (model.fit has no drop_last)",
          (_p("parity.components.data", "batch_order", "kwarg", "drop_last", False),),
          "train.plan.keras_thread_64", first="steps"),
    Fault("train-step-skipped-keras", "train", "keras", "an off-by-one in the Keras loop skips the second "
          "batch of the epoch", (_p(f"{K}.classifier", "_steps", "args", "skip_batch", 1, 3, 1),), LOOP,
          first="step 2 loss"),
    Fault("train-lr-not-applied-keras", "train", "keras", "per-step learning rates computed but never assigned "
          "to the Keras optimizer", (_p(f"{K}.classifier", "set_lrs", "noop"),), LOOP, first="step 2 head.2.weight"),
]}


def select(only: str | None = None, ids: str | None = None) -> list[Fault]:
    """Faults of the comma-separated components in `only` and/or the ids in `ids` (all when neither)."""
    chosen = list(FAULTS.values())
    if ids:
        wanted = [i.strip() for i in ids.split(",") if i.strip()]
        for i in wanted:
            if i not in FAULTS:
                raise unknown("fault", i, FAULTS)
        chosen = [FAULTS[i] for i in wanted]
    if only:
        components = sorted({f.component for f in FAULTS.values()})
        wanted = [c.strip() for c in only.split(",") if c.strip()]
        for c in wanted:
            if c not in components:
                raise unknown("fault component", c, components)
        chosen = [f for f in chosen if f.component in wanted]
    return chosen
