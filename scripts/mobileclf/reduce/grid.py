"""The parameter-reduction grid and how its cells are cut into training blocks.

Standard library only: the Snakefile imports this at parse time to plan the DAG.

A *cell* is one (filters, neurons) pair; a *block* is the set of cells one job trains
(TensorFlow starts once per block, not once per cell). A block's file name is its cells
(``f4n1-3.8_f5n2``: filters 4 with neurons 1, 2, 3 and 8; filters 5 with neurons 2), so
a finished block can be reused by any later grid that still contains some of its cells:
growing the grid trains only the new cells (see :func:`plan_blocks`).
"""

from __future__ import annotations

import re

Cell = tuple[int, int]

_RUN = r"\d+(?:-\d+)?"
_ROW = rf"f\d+n{_RUN}(?:\.{_RUN})*"
BLOCK_PATTERN = rf"{_ROW}(?:_{_ROW})*"
BLOCK_RE = re.compile(BLOCK_PATTERN)
# a block's name is a file name: stay well below the usual 255-byte limit
MAX_KEY_LENGTH = 150


def expand_axis(spec: list[int] | dict) -> list[int]:
    """Grid values of one axis: an explicit list, or ``{from: a, to: b, step: s}`` (inclusive).

    ``from``/``to`` (not Python's start/stop) because the bound is included: the paper's
    ``1..19`` is ``{from: 1, to: 19}``.
    """
    if isinstance(spec, dict):
        step = int(spec.get("step", 1))
        return list(range(int(spec["from"]), int(spec["to"]) + 1, step))
    return sorted({int(value) for value in spec})


def grid_cells(filters: list[int], neurons: list[int]) -> list[Cell]:
    """Every (filters, neurons) pair, row-major (filters first), sorted."""
    return [(f, n) for f in sorted(set(filters)) for n in sorted(set(neurons))]


def _runs(values: list[int]) -> str:
    """``[1, 2, 3, 8]`` -> ``1-3.8``: consecutive integers collapse into a range."""
    parts: list[str] = []
    start = previous = values[0]
    for value in [*values[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if value is not None:
            start = previous = value
    return ".".join(parts)


def block_key(cells: list[Cell]) -> str:
    """The file-name form of a set of cells (inverse of :func:`parse_block_key`)."""
    rows: dict[int, list[int]] = {}
    for filters, neurons in sorted(set(cells)):
        rows.setdefault(filters, []).append(neurons)
    return "_".join(f"f{f}n{_runs(ns)}" for f, ns in rows.items())


def parse_block_key(key: str) -> list[Cell]:
    """Cells of a block name such as ``f4n1-3.8_f5n2``."""
    if not BLOCK_RE.fullmatch(key):
        raise ValueError(f"{key!r} is not a reduction block name (like f4n1-3.8_f5n2)")
    cells: list[Cell] = []
    for row in key.split("_"):
        filters_text, runs = row[1:].split("n", 1)
        for run in runs.split("."):
            low, _, high = run.partition("-")
            cells += [(int(filters_text), n) for n in range(int(low), int(high or low) + 1)]
    return sorted(set(cells))


def _chunk(cells: list[Cell], block_size: int) -> list[list[Cell]]:
    """Consecutive runs of at most ``block_size`` cells whose names stay short enough."""
    blocks: list[list[Cell]] = []
    current: list[Cell] = []
    for cell in cells:
        if current and (
            len(current) >= block_size or len(block_key([*current, cell])) > MAX_KEY_LENGTH
        ):
            blocks.append(current)
            current = []
        current.append(cell)
    if current:
        blocks.append(current)
    return blocks


def plan_blocks(cells: list[Cell], existing: list[str], block_size: int) -> list[str]:
    """Block names that together cover ``cells``: finished blocks first, new ones for the rest.

    ``existing`` are the names of block files already on disk for the same selected
    model. Each is reused (sorted order, deterministic) if it holds a cell still needed;
    its other cells are simply ignored by the aggregation. The remaining cells are cut
    row-major into new blocks of ``block_size``. A grid that grows therefore schedules
    only its new cells, and a finished block is never split or retrained. (Snakemake
    still reruns a reused block whose parameters or inputs changed, e.g. more epochs.)
    """
    needed = set(cells)
    chosen: list[str] = []
    for key in sorted(set(existing)):
        if not BLOCK_RE.fullmatch(key):
            continue
        covered = needed.intersection(parse_block_key(key))
        if covered:
            chosen.append(key)
            needed -= covered
    chosen += [block_key(block) for block in _chunk(sorted(needed), max(1, block_size))]
    return chosen


def skip_reason(arch_spec: dict) -> str | None:
    """Why the paper's reduction does not apply to this architecture, or None if it does."""
    if "backbone" in arch_spec:
        return (
            "the architecture is a pretrained backbone: its size is fixed by the backbone "
            "(Muneeb et al. (2022), Fig. 6: no parameter reduction for an existing model)"
        )
    kinds = {layer.get("type") for layer in arch_spec.get("layers", [])}
    missing = [
        name for name, kind in (("convolution", "conv"), ("dense", "dense")) if kind not in kinds
    ]
    if missing:
        return (
            f"the architecture has no {' and no '.join(missing)} layer; parameter reduction "
            "varies the first convolution's filters and the first dense layer's neurons"
        )
    return None
