"""Transfer-learning backbones from ``keras.applications`` (the companion
studies: Susanto et al. 2021, Kilaru 2025, Gao et al. 2025, Ghaderzadeh et al. n.d.).

An architecture may be ``{backbone: {name, weights, ...}, layers: [head]}``: the backbone
(without its ImageNet classifier) followed by the head layers and the softmax that
:func:`mobileclf.train.architectures.build_model` appends. The default head (the ``layers``
default in the config schema) is Gao et al. (2025)'s GlobalAveragePooling2D -> Dense(128) ->
Dropout(0.2) (-> Dense softmax).

Input: as for every mobileclf model, the raw RGB image, float32 0..255 (uint8 in the int8
TFLite model). Each backbone's own ImageNet preprocessing is a layer *inside* the model
(:data:`PREPROCESSING`), so the exported TFLite model takes the image exactly as its
metadata says and the app does no hidden maths. A generator's ``rescale`` and
featurewise statistics would stack a second normalisation on top of the backbone's own,
so they are ignored for backbones, with a warning in the job's log and the ignored keys
in metrics.json (``ignored_generator_keys``); the generator's augmentations still apply.

Weights: ``imagenet`` (Keras' files, downloaded once into Keras' cache by the
``fetch_imagenet`` rule), ``none`` (random initialisation, trained from scratch), or a
local ``.weights.h5``/``.h5`` file of the same backbone as mobileclf builds it with
``none``. ImageNet weights that cannot be fetched are an error, never random weights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobileclf.errors import UserError

log = logging.getLogger(__name__)

# What each backbone expects, and how the model gets there from raw 0..255 RGB.
PREPROCESSING = {
    "MobileNetV3Large": "inside Keras' model (include_preprocessing): x / 127.5 - 1",
    "MobileNetV3Small": "inside Keras' model (include_preprocessing): x / 127.5 - 1",
    "MobileNetV2": "Rescaling layer: x / 127.5 - 1",
    "ResNet101": "fixed 1x1 convolution: RGB -> BGR minus the ImageNet means (caffe mode)",
    "EfficientNetB0": "inside Keras' model: x / 255, then ImageNet mean/std normalisation",
    "NASNetMobile": "Rescaling layer: x / 127.5 - 1",
}
BACKBONES = tuple(PREPROCESSING)
HAS_ALPHA = ("MobileNetV3Large", "MobileNetV3Small", "MobileNetV2")
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68])
SCRATCH_BN_MOMENTUM = 0.9
GENERATOR_NORMALIZATION_KEYS = ("rescale", "featurewise_center", "featurewise_std_normalization")


@dataclass(frozen=True)
class BackboneSpec:
    """``architectures.<arch>.backbone`` with its defaults (see the config schema)."""

    name: str
    weights: str = "imagenet"
    trainable_layers: int | str = 20
    head_epochs: int = 5
    fine_tune_lr_factor: float = 0.1
    alpha: float | None = None

    @classmethod
    def from_config(cls, section: dict) -> BackboneSpec:
        spec = cls(**section)
        if spec.name not in PREPROCESSING:
            raise UserError(
                f"backbone.name {spec.name!r} is not supported; use one of {', '.join(BACKBONES)}"
            )
        if spec.alpha is not None and spec.name not in HAS_ALPHA:
            raise UserError(f"backbone.alpha applies to {', '.join(HAS_ALPHA)}, not {spec.name}")
        return spec

    @property
    def pretrained(self) -> bool:
        """ImageNet or a local file: the features are worth protecting (frozen BN, phases)."""
        return self.weights != "none"


def ignored_generator_keys(generator: dict, backbone: BackboneSpec) -> list[str]:
    """The generator's normalisation keys a backbone ignores; logged once per job."""
    ignored = [key for key in GENERATOR_NORMALIZATION_KEYS if generator.get(key)]
    if ignored:
        log.warning(
            "generator settings %s are ignored for backbone %s: it applies its own ImageNet "
            "preprocessing inside the model (%s) to the raw 0..255 RGB image; augmentations "
            "still apply",
            ", ".join(ignored),
            backbone.name,
            PREPROCESSING[backbone.name],
        )
    return ignored


def keras_cache() -> Path:
    """Where Keras keeps downloaded weights: $KERAS_HOME/models or ~/.keras/models.

    Keras has no public accessor; this is the function its downloader itself calls.
    """
    from keras.src.backend import config

    return Path(config.keras_home()) / "models"


def _weights_argument(spec: BackboneSpec, arch: str) -> str | None:
    if spec.weights == "imagenet":
        return "imagenet"
    if spec.weights == "none":
        return None
    path = Path(spec.weights)
    if not path.is_file():
        raise UserError(
            f"architectures.{arch}.backbone.weights: file {path} does not exist; give a Keras "
            "weights file (.weights.h5 or .h5) of this backbone, or imagenet, or none"
        )
    if spec.name.startswith("EfficientNet") and path.name.endswith("_notop.h5"):
        # Keras adds an ImageNet-only rescaling layer when it loads these itself.
        raise UserError(
            f"architectures.{arch}.backbone.weights: {path.name} looks like Keras' ImageNet "
            "file; use weights: imagenet (put the file in Keras' cache, ~/.keras/models or "
            "$KERAS_HOME/models) so Keras adds the normalisation those weights need"
        )
    return str(path)


def build_backbone(section: dict, size: int, arch: str = "?"):
    """The keras.applications model without its classifier, for ``size``×``size`` inputs.

    Raises :class:`mobileclf.errors.UserError` naming ``architectures.<arch>.backbone`` when
    ImageNet weights can be neither found in Keras' cache nor downloaded, or a local
    weights file does not fit the backbone.
    """
    import keras

    spec = BackboneSpec.from_config(section)
    if size < 32:
        raise UserError(
            f"architectures.{arch}: {spec.name} needs images of at least 32 px, not {size}; "
            "remove this size from resize.sizes or use another architecture for it"
        )
    options: dict = {"include_top": False, "input_shape": (size, size, 3)}
    if spec.alpha is not None:
        options["alpha"] = spec.alpha
    weights = _weights_argument(spec, arch)
    constructor = getattr(keras.applications, spec.name)
    try:
        return constructor(weights=weights, **options)
    except Exception as error:  # Keras raises bare Exception/ValueError for both cases
        if weights == "imagenet" and "URL fetch failure" in str(error):
            raise UserError(
                f"architectures.{arch}.backbone.weights: imagenet: {spec.name}'s ImageNet "
                f"weights are not in Keras' cache ({keras_cache()}) and "
                f"cannot be downloaded here ({error}). Fix: run the workflow once on a machine "
                "with internet (the fetch_imagenet jobs fill the cache), or copy that file into "
                "the cache folder (or set KERAS_HOME to a folder with models/<file>), or set "
                "weights to a local file or to none to train from scratch"
            ) from None
        if weights not in (None, "imagenet"):
            raise UserError(
                f"architectures.{arch}.backbone.weights: {weights} does not fit {spec.name} "
                f"(alpha {spec.alpha}): {error}"
            ) from None
        raise


def _preprocess(name: str, x):
    """Raw 0..255 RGB -> what ``name`` expects (see :data:`PREPROCESSING`)."""
    import keras

    if name in ("MobileNetV2", "NASNetMobile"):
        return keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="backbone_preprocess")(x)
    if name.startswith("ResNet"):
        # caffe mode as a frozen 1x1 convolution: builtin layer, saves, loads and converts
        # to TFLite like any other (a Lambda or custom layer would not load without code).
        layer = keras.layers.Conv2D(3, 1, trainable=False, name="backbone_preprocess")
        out = layer(x)
        kernel = np.zeros((1, 1, 3, 3), dtype=np.float32)
        for channel in range(3):
            kernel[0, 0, 2 - channel, channel] = 1.0  # output c = input (2 - c): RGB -> BGR
        layer.set_weights([kernel, (-CAFFE_MEAN_BGR).astype(np.float32)])
        return out
    return x  # MobileNetV3 and EfficientNet normalise inside Keras' model


def apply_backbone(section: dict, x, size: int, arch: str = "?"):
    """Preprocessing + backbone on tensor ``x``; returns the backbone's feature map.

    Pretrained backbones run in inference mode (``training=False``): their
    BatchNormalization statistics stay ImageNet's during both phases (Keras' transfer-
    learning guide). A backbone trained from scratch (``none``) learns its own, with the
    BatchNormalization momentum capped at :data:`SCRATCH_BN_MOMENTUM`: Keras' 0.99-0.9997
    suit ImageNet's million steps; after the few hundred steps of a small medical dataset
    the moving statistics would still be mostly their initial values, and the evaluated
    model would predict one class for every image.
    """
    spec = BackboneSpec.from_config(section)
    backbone = build_backbone(section, size, arch)
    backbone.name = "backbone"
    if not spec.pretrained:
        import keras

        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = min(layer.momentum, SCRATCH_BN_MOMENTUM)
    x = _preprocess(spec.name, x)
    return backbone(x, training=False) if spec.pretrained else backbone(x)


def set_trainable(model, phase: str, trainable_layers: int | str = 0) -> None:
    """Freeze or unfreeze the nested ``backbone`` of ``model`` for a training phase.

    ``head``: backbone frozen. ``fine_tune``: the last ``trainable_layers`` backbone layers
    trainable (``all``: every layer), BatchNormalization layers stay frozen. ``full``:
    everything trainable (training from scratch).
    """
    import keras

    backbone = model.get_layer("backbone")
    if phase == "full":
        backbone.trainable = True
        return
    backbone.trainable = phase == "fine_tune"
    if phase != "fine_tune":
        return
    layers = [layer for layer in backbone.layers if not isinstance(layer, keras.layers.InputLayer)]
    count = len(layers) if trainable_layers == "all" else int(trainable_layers)
    for index, layer in enumerate(layers):
        unfrozen = index >= len(layers) - count
        layer.trainable = unfrozen and not isinstance(layer, keras.layers.BatchNormalization)
