"""Per-image work on a job's threads, for the phone emulation stages.

Why threads, not processes: the emulation's cost is in NumPy's and Pillow's C loops
(resize, rotate, blur, JPEG, array arithmetic), which release the GIL, so two threads
render camera views 1.8x as fast as one (bench/bench_camera.py) without copying images
between processes. Every image draws from its own seeded stream, so the result does not
depend on the thread count or on which thread took which image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_threads(
    function: Callable[[Item], Result], items: Iterable[Item], threads: int
) -> list[Result]:
    """``[function(item) for item in items]``, in order, on ``threads`` threads."""
    if threads <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(function, items))
