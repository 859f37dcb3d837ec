"""TFLite metadata for the phone apps: write it with MediaPipe, read it back, check it.

The TFLite Android Task Library and the Flutter templates of Muneeb et al. (2022) read a model's
embedded metadata to decide how to feed it (input normalisation, uint8 or float) and how
to name its outputs (the packed label file). A wrong value there does not crash; it makes
the app silently mislabel images. So the metadata is written with the image-classifier metadata
classes of MediaPipe's maintained metadata package (``mediapipe.tasks.python.metadata``),
read back with its displayer and compared with what training used: input shape and type,
normalisation, and labels in training class-index order.

MediaPipe ships the same TFLite metadata schema tflite-support did (the Task Library, the
Flutter templates and MediaPipe's ImageClassifier read it alike). tflite-support was
abandoned in 2023, pinned protobuf<4 (capping TensorFlow at 2.19) and has no wheel for
Python 3.12 or 3.13; docs/stack.md has the history.

The models take the raw RGB image (0..255) and normalise inside the graph, so the
metadata's normalisation is the identity (mean 0, std 1): the app must feed raw pixels.
"""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
import types
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


# The metadata parser version every field written here needs (1.0.0, as tflite-support
# wrote it): image normalisation, colour space, value range and a tensor label file.
PARSER_VERSION = "1.0.0"
_VERSION_MODULE = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"


def _load_metadata_package():
    """Import MediaPipe's metadata modules on first use, not at module import.

    The workflow imports this module in jobs that never write metadata; MediaPipe's
    native libraries load only where metadata is written or read.
    """
    _provide_parser_version_module()
    from mediapipe.tasks.metadata import metadata_schema_py_generated as schema
    from mediapipe.tasks.python.metadata import metadata
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_info, writer_utils

    return schema, metadata, metadata_info, writer_utils


def _provide_parser_version_module() -> None:
    """Stand in for the one native module MediaPipe's metadata package imports but its
    wheels (1.2.3, manylinux) do not ship.

    ``mediapipe.tasks.python.metadata.metadata`` imports ``_pywrap_metadata_version`` to
    stamp the minimum metadata parser version into what it writes; without the module the
    package cannot be imported at all (reading included). Where MediaPipe ships it, it is
    used. Otherwise this stand-in answers for the fields this module writes, all of
    metadata schema 1.0.0, and refuses (MetadataError) metadata using a later field
    rather than stamp a version an older app could not parse.
    """
    try:
        importlib.import_module(_VERSION_MODULE)
        return
    except ImportError:
        pass
    parent = None
    parts = _VERSION_MODULE.split(".")
    for depth in range(3, len(parts) + 1):
        name = ".".join(parts[:depth])
        module = sys.modules.get(name) or types.ModuleType(name)
        if depth < len(parts):
            module.__path__ = getattr(module, "__path__", [])
        else:
            module.GetMinimumMetadataParserVersion = _minimum_parser_version
        sys.modules[name] = module
        if parent is not None:
            setattr(parent, parts[depth - 1], module)
        parent = module


def _minimum_parser_version(buffer: bytes) -> str:
    """PARSER_VERSION if ``buffer`` uses only schema-1.0.0 fields, else MetadataError."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as schema

    model = schema.ModelMetadataT.InitFromObj(
        schema.ModelMetadata.GetRootAsModelMetadata(bytearray(buffer), 0)
    )
    later = ["model associated files"] if model.associatedFiles else []
    for subgraph in model.subgraphMetadata or []:
        for field in (
            "inputProcessUnits",
            "outputProcessUnits",
            "inputTensorGroups",
            "outputTensorGroups",
            "customMetadata",
            "associatedFiles",
        ):
            if getattr(subgraph, field, None):
                later.append(f"subgraph {field}")
        tensors = (subgraph.inputTensorMetadata or []) + (subgraph.outputTensorMetadata or [])
        for tensor in tensors:
            for unit in tensor.processUnits or []:
                if unit.optionsType != schema.ProcessUnitOptions.NormalizationOptions:
                    later.append(f"process unit type {unit.optionsType}")
            for file in tensor.associatedFiles or []:
                if file.type != schema.AssociatedFileType.TENSOR_AXIS_LABELS or file.version:
                    later.append(f"associated file type {file.type}")
            content = tensor.content
            if content and content.contentPropertiesType not in (
                schema.ContentProperties.ImageProperties,
                schema.ContentProperties.FeatureProperties,
            ):
                later.append(f"content properties type {content.contentPropertiesType}")
    if later:
        raise MetadataError(
            f"metadata uses {', '.join(later)}, beyond schema {PARSER_VERSION}, and this "
            "MediaPipe wheel cannot tell which parser version that needs; install a MediaPipe "
            f"that ships {_VERSION_MODULE}"
        )
    return PARSER_VERSION


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

    Built from MediaPipe's public metadata classes rather than its ``image_classifier``
    writer: that writer fixes the model name to "ImageClassifier" and cannot record a
    version, author or license, which the app store and the model card need. The tensor
    metadata is the writer's own (``InputImageTensorMd``, ``ClassificationTensorMd``), so
    MediaPipe's ImageClassifier and the Task Library read it as they read theirs.
    """
    schema, metadata, metadata_info, writer_utils = _load_metadata_package()
    io = model_io(model)
    check_labels_file(labels_path, io["output"]["shape"][-1])
    size = io["input"]["shape"][1:3]
    buffer = bytearray(model)
    input_md = metadata_info.InputImageTensorMd(
        name="image",
        description=(
            f"Raw RGB image, {size[1]}x{size[0]} pixels, values 0..255 "
            f"({io['input']['dtype']}); rescaling and normalisation are inside the model."
        ),
        norm_mean=APP_NORM_MEAN,
        norm_std=APP_NORM_STD,
        color_space_type=schema.ColorSpaceType.RGB,
        tensor_type=writer_utils.get_input_tensor_types(buffer)[0],
    )
    # The populator packs associated files under their base name: copy to the canonical name.
    with tempfile.TemporaryDirectory() as folder:
        packed = Path(folder) / LABEL_FILE
        packed.write_bytes(Path(labels_path).read_bytes())
        output_md = metadata_info.ClassificationTensorMd(
            name="probability",
            description="Probability of each class, in the order of the packed labels.txt.",
            label_files=[metadata_info.LabelFileMd(file_path=str(packed))],
            tensor_type=writer_utils.get_output_tensor_types(buffer)[0],
        )
        general_md = metadata_info.GeneralMd(
            name=fields.name,
            version=fields.version,
            description=fields.description,
            author=fields.author,
            licenses=fields.license,
        )
        # A model file in our own folder, not with_model_buffer: that variant keeps a temp
        # file it deletes in __del__, which fails when collected at interpreter exit.
        model_file = Path(folder) / "model.tflite"
        model_file.write_bytes(model)
        populator = metadata.MetadataPopulator.with_model_file(str(model_file))
        populator.load_metadata_buffer(
            _metadata_buffer(schema, metadata, general_md, input_md, output_md)
        )
        populator.load_associated_files([str(packed)])
        populator.populate()
        return model_file.read_bytes()


def _metadata_buffer(schema, metadata, general_md, input_md, output_md) -> bytes:
    """The metadata flatbuffer: general fields and one subgraph with one input, one output."""
    import flatbuffers

    subgraph = schema.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [input_md.create_metadata()]
    subgraph.outputTensorMetadata = [output_md.create_metadata()]
    model_md = general_md.create_metadata()
    model_md.subgraphMetadata = [subgraph]
    builder = flatbuffers.Builder(0)
    builder.Finish(model_md.Pack(builder), metadata.MetadataPopulator.METADATA_FILE_IDENTIFIER)
    return bytes(builder.Output())


def read_metadata(model: bytes) -> dict:
    """The metadata as an app sees it, read back with MediaPipe's displayer.

    Returns general fields, input/output tensor facts (shape, dtype, quantization from
    LiteRT; normalisation, value range and colour space from the metadata), the packed
    file names and the labels as packed, one per output index.
    """
    _, metadata, *_ = _load_metadata_package()
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
