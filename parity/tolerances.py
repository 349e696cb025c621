"""The one tolerance table. Each entry says where its number comes from; `parity check` reports, next to
every matched case, the measured float32 noise of both sides against a float64 reference, so a tolerance
that stops covering the noise shows up in the report as a noise ratio near or above 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from parity.errors import unknown


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
}


def get_tolerance(name: str) -> Tolerance:
    if name not in TOLERANCES:
        raise unknown("tolerance", name, TOLERANCES)
    return TOLERANCES[name]
