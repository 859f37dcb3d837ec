"""The configuration checked, default-filled and expanded once, before any rule reads it.

Short, actionable config errors: the key path, what is wrong, and the likely fix.

``snakemake.utils.validate`` reports a schema violation as a dump of the whole schema and
config, in which the one misspelt key is hard to find. :func:`config_problems` runs the
same JSON schema and turns every violation into one line naming the key path
(``split.folds``), the problem and, for unknown keys, the closest valid key ("did you
mean ...?"). Imported by ``workflow/rules/common.smk`` at parse time, so it must stay
free of TensorFlow and pandas.

:func:`prepare_config` then fills in every default the schema states
(:func:`fill_defaults`), so the rest of the workflow indexes keys directly and the schema is
the one place a default is written, and expands ``batch_sizes`` into grid architectures
(:func:`expand_batch_sizes`).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterator
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from mobileclf.errors import UserError
from mobileclf.workflow.resources import shape_problems

TYPE_NAMES = {
    "integer": "a whole number",
    "number": "a number",
    "string": "a text string",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping of keys",
    "null": "null",
}


class ConfigError(UserError):
    """The configuration does not match the schema; the message lists every problem."""


def load_schema(path: str | Path) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def key_path(error: ValidationError) -> str:
    """``split.folds`` / ``resize.sizes[0]`` / ``(top level)`` for an error's location."""
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _all_property_paths(schema: dict, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(key name, dotted path) of every named property in the schema, for cross-level hints."""
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        yield name, path
        if isinstance(sub, dict):
            yield from _all_property_paths(sub, path)
            extra = sub.get("additionalProperties")
            if isinstance(extra, dict):
                yield from _all_property_paths(extra, f"{path}.<name>")
            items = sub.get("items")
            if isinstance(items, dict):
                yield from _all_property_paths(items, f"{path}[]")


def _unknown_key_lines(error: ValidationError, root_schema: dict) -> list[str]:
    allowed = sorted((error.schema.get("properties") or {}).keys())
    unknown = sorted(set(error.instance) - set(allowed))
    where = key_path(error)
    elsewhere = dict(_all_property_paths(root_schema))
    lines = []
    for key in unknown:
        full = f"{where}.{key}" if where != "(top level)" else str(key)
        close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean '{close[0]}'?"
        elif str(key) in elsewhere:
            hint = f"'{key}' belongs under '{elsewhere[str(key)]}', not here"
        else:
            hint = "remove it"
        lines.append(f"{full}: unknown key; {hint} (valid here: {', '.join(allowed)})")
    return lines


def _describe(error: ValidationError, root_schema: dict) -> list[str]:
    where = key_path(error)
    value = error.instance
    kind = error.validator
    if kind == "additionalProperties":
        return _unknown_key_lines(error, root_schema)
    if kind == "type":
        wanted = error.validator_value
        wanted = wanted if isinstance(wanted, list) else [wanted]
        names = " or ".join(TYPE_NAMES.get(w, w) for w in wanted)
        return [f"{where}: must be {names}, not {value!r} ({type(value).__name__})"]
    if kind in ("minimum", "exclusiveMinimum"):
        relation = "at least" if kind == "minimum" else "greater than"
        return [f"{where}: {value!r} is too small; it must be {relation} {error.validator_value}"]
    if kind in ("maximum", "exclusiveMaximum"):
        relation = "at most" if kind == "maximum" else "less than"
        return [f"{where}: {value!r} is too large; it must be {relation} {error.validator_value}"]
    if kind == "enum":
        options = ", ".join(str(v) for v in error.validator_value)
        close = difflib.get_close_matches(str(value), [str(v) for v in error.validator_value], n=1)
        hint = f" did you mean '{close[0]}'?" if close else ""
        return [f"{where}: {value!r} is not one of: {options}.{hint}"]
    if kind == "required":
        return [f"{where}: {error.message.replace('property', 'key')}"]
    if kind == "oneOf" and error.absolute_path and error.absolute_path[0] == "datasets":
        hint = "give either 'root: <folder with one sub-folder per class>' or 'demo: true'"
        return [f"{where}: {hint}"]
    if (
        kind == "anyOf"
        and len(error.absolute_path) == 2
        and error.absolute_path[0] == "architectures"
    ):
        return [
            f"{where}: give 'layers:' (a list such as [{{type: conv, filters: 32}}, "
            "{type: flatten}, {type: dense, units: 64}]) or 'backbone: {name: MobileNetV2}'"
        ]
    if kind == "pattern" or (kind == "propertyNames" and isinstance(value, dict)):
        return [f"{where}: {error.message}; names start with a letter and use only A-Z a-z 0-9 _ -"]
    if kind in ("minItems", "maxItems", "uniqueItems", "minProperties"):
        return [f"{where}: {error.message}"]
    return [f"{where}: {error.message}"]


def config_problems(config: dict, schema: dict) -> list[str]:
    """One line per schema violation, in key order (empty when the config is valid)."""
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    lines: list[str] = []
    for error in errors:
        for line in _describe(error, schema):
            if line not in lines:
                lines.append(line)
    return lines


def check_config(config: dict, schema_path: str | Path) -> None:
    """Raise :class:`ConfigError` listing every problem of ``config`` (key path, fix)."""
    problems = config_problems(config, load_schema(schema_path))
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) in the configuration:\n"
            + "\n".join(f"  - {line}" for line in problems)
            + f"\nEvery key is described in {schema_path}."
        )


def _set_defaults(validator, properties, instance, schema):
    """The ``properties`` keyword, which first fills in each missing property's default."""
    if isinstance(instance, dict):
        for name, subschema in properties.items():
            if "default" in subschema:
                instance.setdefault(name, copy.deepcopy(subschema["default"]))
    check_properties = Draft202012Validator.VALIDATORS["properties"]
    yield from check_properties(validator, properties, instance, schema)


# The recipe of snakemake.utils.validate(set_default=True) (from jsonschema's FAQ): defaults
# are set wherever the validator meets a ``properties`` keyword, so also inside
# ``datasets.<name>`` (additionalProperties), list items (mobile.camera_levels) and a
# default that is itself a section (``mobile: {}`` gets its thresholds, latency, ...).
_FillingValidator = validators.extend(Draft202012Validator, {"properties": _set_defaults})


def fill_defaults(config: dict, schema: dict) -> dict:
    """Fill ``config`` in place with every default of ``schema``, nested ones included.

    Run after :func:`check_config` (a config with problems is not filled). Sections without
    a default (``reduction``, a dataset's ``root`` or ``positive_class``... see the schema)
    stay absent. Each default is a copy, so two datasets never share one ``ingest`` dict.
    """
    errors = list(_FillingValidator(schema).iter_errors(config))
    if errors:
        raise ConfigError(f"{key_path(errors[0])}: {errors[0].message}")
    return config


def expand_batch_sizes(architectures: dict) -> dict:
    """Batch size as a grid axis (Susanto et al. (2021) compares 16/32/64): an architecture with
    ``batch_sizes: [16, 32]`` becomes the grid architectures ``{arch}_b16`` and
    ``{arch}_b32``, each with ``batch_size`` set, so every output path keeps the form
    results/{dataset}/cv/{arch}/... and selection.json's ``arch`` is a key of
    config["architectures"] like any other. Architectures without the list are unchanged.
    """
    expanded = {}
    for name, spec in architectures.items():
        if "batch_sizes" not in spec:
            expanded[name] = spec
            continue
        base = {key: value for key, value in spec.items() if key != "batch_sizes"}
        for batch in spec["batch_sizes"]:
            grid_name = f"{name}_b{batch}"
            if grid_name in architectures:
                raise ConfigError(
                    f"architectures.{name}.batch_sizes makes {grid_name}, which is also "
                    "an architecture of its own; rename one of them"
                )
            expanded[grid_name] = {**base, "batch_size": batch}
    return expanded


def read_config_file(path: str | Path) -> dict:
    """A config file read as Snakemake reads it, its mistakes as one line naming the file.

    Snakemake loads ``--configfile`` itself, before the workflow: a missing file is a
    traceback and a YAML syntax error "Config file is not valid JSON or YAML" without a
    file or line. scripts/check_config.py reads the file here instead, so the user gets
    the file, line and column (and then every schema, layer and dataset problem).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"config file {path} does not exist (relative paths start in {Path.cwd()}); "
            "give the path of your config, e.g. --configfile config/config.yaml"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        if mark is None:
            raise ConfigError(f"{path}: YAML syntax error: {error}") from None
        context = ""
        if error.context and error.context_mark is not None:
            context = f" ({error.context} at line {error.context_mark.line + 1})"
        raise ConfigError(
            f"{path}, line {mark.line + 1}, column {mark.column + 1}: YAML syntax error: "
            f"{error.problem}{context}; fix that line (a missing ':', bracket or quote, or "
            "a tab used for indentation)"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} holds {type(data).__name__}, not a mapping of config keys")
    return data


def architecture_problems(config: dict) -> list[str]:
    """One line per architecture layer Keras could not build at some ``resize.sizes``.

    Runs the shape walk of the resource estimates (no TensorFlow) over every size, so a
    layer list that training would refuse with a Keras traceback, after ingest, split and
    resize ran, stops the run before any job. One line per faulty layer, naming
    ``architectures.<name>.layers[i]`` and the image size(s). Needs the defaults filled.
    """
    lines = []
    for name, spec in config["architectures"].items():
        found: dict[int, list[tuple[int, str]]] = {}
        for size in config["resize"]["sizes"]:
            for index, text in shape_problems(spec["layers"], size, "backbone" in spec):
                found.setdefault(index, []).append((size, text))
        for index, problems in found.items():
            others = ", ".join(str(size) for size, _ in problems[1:])
            also = f" (also at image size(s) {others})" if others else ""
            lines.append(f"architectures.{name}.layers[{index}]: {problems[0][1]}{also}")
    return lines


def _class_folders(config: dict, name: str) -> list[str] | None:
    """The class folders of a dataset's root as it is now (None: not there yet)."""
    spec = config["datasets"][name]
    root = Path(f"results/{name}/demo_data" if spec["demo"] else spec["root"])
    if not root.is_dir():
        return None
    return sorted(e.name for e in root.iterdir() if e.is_dir() and not e.name.startswith("."))


def dataset_problems(config: dict) -> list[str]:
    """Dataset keys that are wrong before any job runs: a ``positive_class`` that is not one
    of the root's class folders (otherwise found only by the training jobs, after ingest,
    split and resize ran) and a root whose path holds wildcard braces (Snakemake would
    read ``{x}`` in every image path as a wildcard). Reads only the root's listing; a root
    that does not exist yet (demo data before make_demo) is left to ingest."""
    lines = []
    for name, spec in config["datasets"].items():
        root = "" if spec["demo"] else spec["root"]
        if "{" in root or "}" in root:
            lines.append(
                f"datasets.{name}.root: {root!r} contains '{{' or '}}', which Snakemake reads "
                "as a wildcard in every image path; rename the folder or point to a link to it"
            )
            continue
        classes = _class_folders(config, name)
        wanted = spec["positive_class"]
        if not wanted or classes is None or wanted in classes:
            continue
        same_letters = [c for c in classes if c.casefold() == wanted.casefold()]
        close = same_letters or difflib.get_close_matches(wanted, classes, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        lines.append(
            f"datasets.{name}.positive_class: {wanted!r} is not a class folder of "
            f"{root or 'the demo data'} (classes: {', '.join(classes)}); class names are "
            f"case-sensitive{hint}"
        )
    return lines


def check_camera_severity(config: dict) -> None:
    """The verdict judges the camera at ``mobile.thresholds.camera_severity``, an index into
    ``mobile.camera_levels``: a severity without a level would be judged on no images (the
    old defaults' "nan%"). Run on the default-filled config, so either key may be a default.
    """
    mobile = config["mobile"]
    severity = mobile["thresholds"]["camera_severity"]
    levels = len(mobile["camera_levels"])
    if severity >= levels:
        raise ConfigError(
            f"mobile.thresholds.camera_severity: {severity} names no camera level "
            f"(mobile.camera_levels has {levels}, severities 0-{levels - 1}); set "
            f"camera_severity to one of 0-{levels - 1} or add levels to mobile.camera_levels"
        )


def prepare_config(config: dict, schema_path: str | Path) -> dict:
    """What common.smk does with ``config`` at parse time, in place: check it (one line per
    problem), fill in the schema's defaults, check what the schema cannot (the layer lists,
    the datasets, the camera severity the verdict uses), expand batch-size grids. Returns
    ``config``."""
    check_config(config, schema_path)
    fill_defaults(config, load_schema(schema_path))
    problems = architecture_problems(config) + dataset_problems(config)
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) in the configuration:\n"
            + "\n".join(f"  - {line}" for line in problems)
        )
    check_camera_severity(config)
    config["architectures"] = expand_batch_sizes(config["architectures"])
    return config
