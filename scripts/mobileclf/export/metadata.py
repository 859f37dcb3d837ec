"""TFLite metadata for the phone apps: write it with tflite-support, read it back, check it.

The TFLite Android Task Library and the Flutter templates of seed 000 read a model's
embedded metadata to decide how to feed it (input normalisation, uint8 or float) and how
to name its outputs (the packed label file). A wrong value there does not crash; it makes
the app silently mislabel images. So the metadata is written with tflite-support's
image-classifier writer, read back with its displayer and compared with what training
used: input shape and type, normalisation, and labels in training class-index order.

The models take the raw RGB image (0..255) and normalise inside the graph, so the
metadata's normalisation is the identity (mean 0, std 1): the app must feed raw pixels.
"""

from __future__ import annotations

import ctypes
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobileclf.errors import UserError

LABEL_FILE = "labels.txt"
# Identity normalisation: (pixel - 0) / 1. The model's own layers rescale and normalise.
APP_NORM_MEAN = [0.0, 0.0, 0.0]
APP_NORM_STD = [1.0, 1.0, 1.0]


class MetadataError(UserError):
    """Metadata cannot be written as asked, or does not read back as written."""


@dataclass(frozen=True)
class GeneralFields:
    """The ``export.metadata`` config section: what the app store and the app show."""

    name: str
    version: str
    description: str
    author: str
    license: str

    @classmethod
    def from_config(cls, section: dict) -> GeneralFields:
        return cls(
            **{
                key: str(section[key])
                for key in ("name", "version", "description", "author", "license")
            }
        )


def _load_tflite_support():
    """Import the metadata packages (``import tflite_support`` itself fails here).

    tflite-support's metadata extension links against libusb-1.0, which the
    libusb-package wheel ships; it must be loaded globally before the import.
    """
    import libusb_package

    ctypes.CDLL(libusb_package.get_library_path(), mode=ctypes.RTLD_GLOBAL)
    from tensorflow_lite_support.metadata import metadata_schema_py_generated as schema
    from tensorflow_lite_support.metadata.python import metadata
    from tensorflow_lite_support.metadata.python.metadata_writers import (
        image_classifier,
        metadata_info,
        writer_utils,
    )

    return schema, metadata, image_classifier, metadata_info, writer_utils


def model_io(model: bytes) -> dict:
    """Input/output shape, dtype and quantization of a TFLite flatbuffer, from LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()

    def describe(detail: dict) -> dict:
        scale, zero_point = detail["quantization"]
        return {
            "shape": [int(v) for v in detail["shape"]],
            "dtype": np.dtype(detail["dtype"]).name,
            "scale": float(scale),
            "zero_point": int(zero_point),
        }

    return {"input": describe(inp), "output": describe(out)}


def read_labels_file(path: str | Path) -> list[str]:
    return [
        line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def check_labels_file(labels_path: str | Path, n_outputs: int) -> list[str]:
    """The labels file must name each model output exactly once, in output order."""
    labels = read_labels_file(labels_path)
    if len(labels) != n_outputs:
        raise MetadataError(
            f"{labels_path} has {len(labels)} label(s) but the model has {n_outputs} output "
            "classes; the labels file must list one class per model output in training order "
            "(use the labels.txt written by the same run as the model)"
        )
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise MetadataError(f"{labels_path} lists {', '.join(duplicates)} more than once")
    return labels


def add_metadata(model: bytes, fields: GeneralFields, labels_path: str | Path) -> bytes:
    """Return ``model`` with image-classifier metadata and the label file packed in.

    Refuses (MetadataError) a labels file whose count differs from the model's classes.
    """
    schema, _, image_classifier, metadata_info, writer_utils = _load_tflite_support()
    io = model_io(model)
    check_labels_file(labels_path, io["output"]["shape"][-1])
    size = io["input"]["shape"][1:3]
    input_md = metadata_info.InputImageTensorMd(
        name="image",
        description=(
            f"Raw RGB image, {size[1]}x{size[0]} pixels, values 0..255 "
            f"({io['input']['dtype']}); rescaling and normalisation are inside the model."
        ),
        norm_mean=APP_NORM_MEAN,
        norm_std=APP_NORM_STD,
        color_space_type=schema.ColorSpaceType.RGB,
        tensor_type=writer_utils.get_input_tensor_types(model)[0],
    )
    # The writer packs associated files under their base name: copy to the canonical name.
    with tempfile.TemporaryDirectory() as folder:
        packed = Path(folder) / LABEL_FILE
        packed.write_bytes(Path(labels_path).read_bytes())
        output_md = metadata_info.ClassificationTensorMd(
            name="probability",
            description="Probability of each class, in the order of the packed labels.txt.",
            label_files=[metadata_info.LabelFileMd(file_path=str(packed))],
            tensor_type=writer_utils.get_output_tensor_types(model)[0],
        )
        general_md = metadata_info.GeneralMd(
            name=fields.name,
            version=fields.version,
            description=fields.description,
            author=fields.author,
            licenses=fields.license,
        )
        writer = image_classifier.MetadataWriter.create_from_metadata_info(
            bytearray(model), general_md=general_md, input_md=input_md, output_md=output_md
        )
        return bytes(writer.populate())


def read_metadata(model: bytes) -> dict:
    """The metadata as an app sees it, read back with tflite-support's displayer.

    Returns general fields, input/output tensor facts (shape, dtype, quantization from
    LiteRT; normalisation, value range and colour space from the metadata), the packed
    file names and the labels as packed, one per output index.
    """
    _, metadata, *_ = _load_tflite_support()
    displayer = metadata.MetadataDisplayer.with_model_buffer(model)
    raw = json.loads(displayer.get_metadata_json())
    subgraph = raw["subgraph_metadata"][0]
    input_md = subgraph["input_tensor_metadata"][0]
    output_md = subgraph["output_tensor_metadata"][0]
    normalization = next(
        (
            unit["options"]
            for unit in input_md.get("process_units", [])
            if unit.get("options_type") == "NormalizationOptions"
        ),
        {},
    )
    label_names = [
        f["name"]
        for f in output_md.get("associated_files", [])
        if f.get("type") == "TENSOR_AXIS_LABELS"
    ]
    packed = displayer.get_packed_associated_file_list()
    labels = []
    if label_names:
        labels = [
            line.strip()
            for line in displayer.get_associated_file_buffer(label_names[0])
            .decode("utf-8")
            .splitlines()
            if line.strip()
        ]
    io = model_io(model)
    stats = input_md.get("stats", {})
    return {
        "name": raw.get("name"),
        "version": raw.get("version"),
        "description": raw.get("description"),
        "author": raw.get("author"),
        "license": raw.get("license"),
        "input": {
            **io["input"],
            "color_space": input_md.get("content", {})
            .get("content_properties", {})
            .get("color_space"),
            "norm_mean": normalization.get("mean"),
            "norm_std": normalization.get("std"),
            "min": stats.get("min"),
            "max": stats.get("max"),
        },
        "output": io["output"],
        "n_classes": io["output"]["shape"][-1],
        "associated_files": sorted(packed),
        "label_file": label_names[0] if label_names else None,
        "labels": labels,
        "min_parser_version": raw.get("min_parser_version"),
    }


def check_metadata(
    read_back: dict, fields: GeneralFields, labels: list[str], size: int, input_dtype: str
) -> None:
    """Raise MetadataError listing every field that does not read back as intended.

    ``labels`` is the training class-index order; ``size`` the model's image side;
    ``input_dtype`` what the variant promises the app (float32 or uint8).
    """
    problems = []
    for key in ("name", "version", "description", "author", "license"):
        if read_back.get(key) != getattr(fields, key):
            problems.append(f"{key}: wrote {getattr(fields, key)!r}, read {read_back.get(key)!r}")
    inp = read_back["input"]
    if inp["shape"] != [1, size, size, 3]:
        problems.append(f"input shape {inp['shape']} is not [1, {size}, {size}, 3]")
    if inp["dtype"] != input_dtype:
        problems.append(f"input dtype {inp['dtype']} is not {input_dtype}")
    if input_dtype == "uint8" and (inp["scale"] != 1.0 or inp["zero_point"] != 0):
        problems.append(
            f"uint8 input quantization is scale {inp['scale']}, zero point {inp['zero_point']}: "
            "raw camera bytes would be misread (need scale 1, zero point 0)"
        )
    if inp["norm_mean"] != APP_NORM_MEAN or inp["norm_std"] != APP_NORM_STD:
        problems.append(
            f"input normalisation mean {inp['norm_mean']} std {inp['norm_std']} is not the "
            f"identity {APP_NORM_MEAN}/{APP_NORM_STD} the model expects"
        )
    if inp["color_space"] != "RGB":
        problems.append(f"input colour space {inp['color_space']} is not RGB")
    if read_back["labels"] != list(labels):
        problems.append(
            f"packed labels {read_back['labels']} differ from training order {list(labels)}"
        )
    if read_back["n_classes"] != len(labels):
        problems.append(f"model has {read_back['n_classes']} outputs for {len(labels)} labels")
    if problems:
        raise MetadataError("metadata does not read back as written: " + "; ".join(problems))
