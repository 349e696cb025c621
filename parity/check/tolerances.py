"""The one tolerance table. Each entry says where its number comes from; `parity check` reports, next to
every matched case, the measured float32 noise of both sides against a float64 reference, so a tolerance
that stops covering the noise shows up in the report as a noise ratio near or above 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from parity.core.errors import unknown


@dataclass(frozen=True)
class Tolerance:
    max_abs: float
    units: str
    source: str
    relative: bool = False  # compare max_rel (error / max |value|) instead of max_abs


TOLERANCES = {
    "exact": Tolerance(0.0, "the data's own units",
                       "integer data (uint8 decodes, labels, file order, image counts): bitwise equality is the "
                       "only honest bar"),
    "pixels_f32": Tolerance(1e-2, "0-255 levels",
                            "float32 resize noise: measured max |impl - float64 ref| 5.0e-3 levels "
                            "(interpolate_ac 427x640->64 in both frameworks: float32 align-corners scale), "
                            "max |torch - keras| 2.9e-3 (fastai_v1 427x640->64); 2x the largest noise"),
    "pixels_uint8": Tolerance(1.0, "0-255 levels",
                              "PIL rounds fixed-point (22-bit) sums to uint8, TF rounds float32 sums: a value "
                              "near x.5 may land one level apart; measured max 1 level"),
    "normalized_f32": Tolerance(1e-6, "relative to max |value|",
                                "float32 normalisation noise, scale-relative because modes span 1 (tf) to 151 "
                                "(caffe): measured max |impl - float64 ref| 2.3e-7 of max |ref| ('torch' mode, "
                                "about 2 ulp), max |torch - keras| 2.7e-7; about 4x", relative=True),
    "features_f32": Tolerance(5e-5, "relative to each layer's max |value|",
                              "float32 body noise, inference, every conv/BN layer: measured max |impl - float64 "
                              "ref| / max |ref| 1.2e-5 (efficientnet_lite0 224px, _blocks.4._bn2), max |torch - "
                              "keras| 8.4e-6 (same layer); ResNets are bitwise equal (both run oneDNN); ~4x",
                              relative=True),
    "features_train_f32": Tolerance(3e-3, "relative to each layer's max |value|",
                                    "float32 body noise with BN on batch statistics of 4 images (tiny late "
                                    "feature maps amplify it): measured max |impl - float64 ref| / max |ref| "
                                    "6.4e-4, max |torch - keras| 9.5e-4 (efficientnet_lite0 224px, "
                                    "_blocks.9._bn0); ~3x the largest", relative=True),
    "head_f32": Tolerance(1e-5, "relative to each layer's max |value|",
                          "float32 head layers (pool, BN1d on running statistics, Linear, ReLU) on resnet18 features: "
                          "measured max |torch - keras| / max 2.0e-6 and max |impl - float64 ref| / max 1.8e-6 "
                          "(head.8, the logits; seeds 0-2); 5x", relative=True),
    "head_train_f32": Tolerance(1e-3, "relative to each layer's max |value|",
                                "float32 head layers with BN1d on batch statistics of 10 images (a feature that "
                                "barely varies over the batch is divided by its small deviation): over seeds 1-20 "
                                "measured max |torch - keras| / max 2.0e-4 and max |impl - float64 ref| / max "
                                "1.1e-4 (fastai_v1 head.2, seed 11; seeds 0-2 had shown 3.7e-5); 5x", relative=True),
    "dropout_rate": Tolerance(0.01, "fraction of a slot's inputs zeroed (and the kept inputs' scale factor)",
                              "binomial sampling error of two frameworks' own masks: the difference of two dropped "
                              "fractions over n = 81,920 draws each (16 passes x 10 images x 512 units, the smaller "
                              "slot) has standard error sqrt(2 p (1-p) / n) <= 0.0025 (p = 0.5); 0.01 is 4 of them. "
                              "Measured max 0.0055 (fastai_v1 head.7, seed 1). The kept scale is 1/(1-p) in float32 "
                              "in both: measured 0"),
    "init_percentiles": Tolerance(0.04, "units of w * sqrt(fan_in)",
                                  "sampling error of the 1st..99th percentiles of 524,288 draws: standard error "
                                  "0.0073 at the 1st percentile of N(0, 2), so 0.010 between two samples and ~0.03 "
                                  "at 3 sd; measured max |torch - keras| 0.021, max |impl - theory| 0.013 "
                                  "(kaiming_normal)"),
    "optim_f32": Tolerance(3e-5, "relative to each tensor's max |value|",
                           "float32 update-step noise at every one of 100 steps: measured max |impl - float64 "
                           "ref| / max |ref| 5.2e-6 and max |torch - keras| 8.0e-6 (torch_adamw, a BN weight near "
                           "1 decayed by 1 - lr*wd each step, step 71); ~4x the noise", relative=True),
    "applied_lr": Tolerance(0.1, "relative to the group's learning rate",
                            "the LR applied to a tensor, read as its largest move in Adam's first step (lr * |g| / "
                            "(|g| + 1e-8)) between two float32 values: measured max |impl - fastai rule| / lr "
                            "7.8e-3 (efficientnet_lite0 _blocks.13._bn2.bias, whose large values have a float32 "
                            "spacing near 1e-5), 6.6e-6 on the ResNets, max |torch - keras| 5.6e-3; ~13x. Group "
                            "LRs differ 10x, so a tensor in another group is off by 0.9 or 9", relative=True),
    "schedule_f32": Tolerance(1e-6, "relative to max |value|",
                              "float32 cosine schedules: measured max |impl - float64 ref| / max 1.1e-7 (torch "
                              "fastai_v1_one_cycle lr), about 1 ulp; ~10x", relative=True),
    "loss_f32": Tolerance(1e-6, "relative to max |value|",
                          "float32 cross-entropy: measured max |impl - float64 ref| / max 2.6e-8 (loss, up to 39.6) "
                          "and 1.3e-7 (gradient), max |torch - keras| 1.2e-7 (gradient); ~8x", relative=True),
    "cache_f32": Tolerance(1e-4, "relative to max |logit|",
                           "a run on cached body features against the same run through the whole model: the body's "
                           "float32 forward is the same function, summed over other batches (chunks of the whole set "
                           "against shuffled training batches), which some CPUs' kernels round differently: measured "
                           "6.6e-6 on one 2-core AMD EPYC (keras_tf, 2 epochs, 40 digits), 0 on another (Zen 4). "
                           "The same run with every cached feature moved by up to 4 float32 ulps (seed 3, feature "
                           "arrays perturbed inside the worker) moved its logits by 2.4e-6 (torch), 1.3e-6 "
                           "(keras_tf) and 2.3e-5 (keras_torch) of max |logit|; ~4x the largest", relative=True),
    "accuracy_tost": Tolerance(0.05, "accuracy (fraction; 0.05 = 5 points)",
                               "equivalence margin of a paired TOST (alpha 0.05) on end accuracy: measured 90% CI "
                               "of torch - keras -1.5 to +3.1 points (keras_thread_64 on digits 30/40 per class, "
                               "seeds 0-4; per-seed differences up to 3.5 points from the two frameworks' own "
                               "dropout masks); 5 points sits above that CI with 2 points to spare"),
    "train_f32": Tolerance(1e-3, "relative to each tensor's max |value|",
                           "float32 training trajectories, 3 Adam steps on one batch of 10, judged on the losses and "
                           "BN running statistics (learned parameters go to the float64 twins): measured max |impl - "
                           "float64 ref| / max 1.1e-4 and max |torch - keras| / max 1.3e-4 (efficientnet_lite0 + "
                           "keras_thread head, head.6.running_mean); ~8x", relative=True),
    "train_f64": Tolerance(1e-9, "relative to each tensor's max |value|",
                           "both frameworks in float64 (Keras' optimizer LRs too), Adam steps: measured max |torch "
                           "- keras| / max 3.9e-11 (resnet18 train_bn, head.4.weight), 1.7e-11 and 1.3e-11 (the frozen "
                           "recipes); ~25x. Near Adam's epsilon a step moves lr/eps = 3e4 times a gradient difference, "
                           "so the twins must start equal to the last bit (float32 LRs gave 3.6e-5). Where a tensor's "
                           "own float64 rounding noise is larger, its case allows 10x the noise the rounding-order "
                           "twin measures (parity.check.cases.train.FLOAT64_FLOOR_FACTOR): over seeds 1-20 three tensors of "
                           "the train_bn run passed only by that (1.2e-5 and 1.8e-7, body.layer4.1.bn2.bias, seeds 3 "
                           "and 5; 1.8e-9, head.4.bias, seed 4) and one of the epoch loop (1.6e-9, step 2 "
                           "head.4.bias, seed 12)", relative=True),
    "running_stats_f32": Tolerance(1e-4, "relative to max |value|",
                                   "BN running statistics after one step: the batch statistics' float32 noise "
                                   "(up to 9.5e-4 relative, see features_train_f32) times the largest BN "
                                   "momentum (0.1, torch convention)", relative=True),
    "grad_f32": Tolerance(1e-3, "relative to each tensor's max |value|",
                          "float32 gradient noise of the tensors float32 can judge (heads, frozen bodies; the cases "
                          "list what they exclude): measured max |impl - float64 ref| / max |ref| 5.0e-4, max |torch "
                          "- keras| 3.8e-4 (resnet50 + keras_thread, head.4.weight); 2x the noise", relative=True),
    "logits_batch_stats_f32": Tolerance(1e-2, "relative to max |logit|",
                                        "float32 logits of EfficientNet-Lite0 with BN on batch statistics of 4 images "
                                        "(2x2 feature maps at 64 px): measured max |impl - float64 ref| / max 2.4e-3, "
                                        "max |torch - keras| 5.4e-4; ~4x the noise", relative=True),
    "grad_f64": Tolerance(1e-8, "relative to each tensor's max |value|",
                          "both frameworks in float64, one backward pass of body + head: measured max |torch - keras| "
                          "/ max 1.4e-10 (efficientnet_lite0 + fastai_v1 train_bn, head.4.weight), 6.2e-13 (resnet18); "
                          "~70x, for summation-order differences in float64", relative=True),
    "spec_defaults": Tolerance(1e-12, "relative to the value",
                               "a spec row against the library's own default: equal but for float64 round-off of "
                               "the library's arithmetic (Keras' BN momentum 0.99 read as 1 - 0.99 = 0.01 + 9e-18)",
                               relative=True),
}


def get_tolerance(name: str) -> Tolerance:
    if name not in TOLERANCES:
        raise unknown("tolerance", name, TOLERANCES)
    return TOLERANCES[name]
