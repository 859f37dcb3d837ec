"""The final model: the chosen configuration trained once on all non-holdout images.

The CV grid only *chooses* (architecture, generator, size, and after parameter reduction
the layer widths); the model that ships is retrained on every non-holdout image and
evaluated once on the untouched holdout. This module resolves what to build from
selection.json / reduction.json and saves the result with its spec.
"""

from __future__ import annotations

import os
from pathlib import Path

from mobileclf import atomic
from mobileclf.errors import UserError


class FinalSpecError(UserError):
    """selection.json / reduction.json does not describe a model this config can build."""


def resolve_spec(chosen: dict, architectures: dict, generators: dict, source: str) -> dict:
    """Architecture, generator, size and layer list of the model to ship.

    ``chosen`` is reduction.json (which carries the reduced ``layers``) or selection.json
    (layers then come from ``architectures[arch]``).
    """
    for key in ("arch", "generator", "size"):
        if key not in chosen:
            raise FinalSpecError(f"{source} has no {key!r}; rerun the stage that writes it")
    arch, generator = chosen["arch"], chosen["generator"]
    if generator not in generators:
        raise FinalSpecError(
            f"{source} chose generator {generator!r}, which is not in the config's generators "
            f"({', '.join(sorted(generators))}); rerun the CV grid with this config"
        )
    layers = chosen.get("layers")
    if layers is None:
        if arch not in architectures:
            raise FinalSpecError(
                f"{source} chose architecture {arch!r}, which is not in the config's "
                f"architectures ({', '.join(sorted(architectures))}); rerun the CV grid"
            )
        layers = architectures[arch]["layers"]
    return {
        "arch": arch,
        "generator": generator,
        "size": int(chosen["size"]),
        "layers": [dict(layer) for layer in layers],
        "source": Path(source).name,
    }


def array_for_size(arrays: list[str], size: int) -> str:
    """The resized array ``.../arrays/{size}.npy`` among the rule's inputs."""
    for path in arrays:
        if Path(path).stem == str(size):
            return path
    raise FinalSpecError(
        f"no resized array for the chosen size {size} among {', '.join(arrays)}; "
        "the size must be in resize.sizes"
    )


def save_keras(path: str | Path, model) -> None:
    """Atomically save a Keras model (Keras insists on a ``.keras`` suffix)."""

    def writer(temporary: Path) -> None:
        named = temporary.with_name(temporary.name + ".keras")
        try:
            model.save(named)
            os.replace(named, temporary)
        finally:
            named.unlink(missing_ok=True)

    atomic.write_with(path, writer)
