"""Length buckets: run a window of items in batches of similar size, answer in input order.

A batch is padded to its longest row, so batching phrases in the order they come pads a
10-token caption to the 30 tokens of its neighbour (and 10 regions to 100 in Flickr30k
features). A dataset run cuts its stream into bounded windows (``windows``); within a
window, items are sorted by a length key and cut into batches there (``in_length_buckets``),
and the results are put back in input order, so the caller sees exactly the order (and, up
to float rounding, the values) of an unbucketed run, and memory holds one window, never the
whole stream. Windows are also what ``vlexplore.distributed`` hands to each process, so a
sharded run forms the very batches a single process forms.
May import: nothing from vlexplore.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

__all__ = ["WINDOW_BATCHES", "windows", "in_length_buckets", "mapped_ahead"]

Item = TypeVar("Item")
Result = TypeVar("Result")

#: a window holds this many batches: enough to find neighbours of equal length, small
#: enough that the prepared inputs of one window stay a few hundred MB at VOLTA sizes
WINDOW_BATCHES = 8


def windows(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Consecutive lists of ``size`` items (the last one shorter), read lazily."""
    if size < 1:
        raise ValueError(f"window size must be at least 1; got {size}")
    stream = iter(items)
    while window := list(islice(stream, size)):
        yield window


def in_length_buckets(
    window: Sequence[Item],
    run: Callable[[list[Item]], Sequence[Result]],
    batch_size: int,
    key: Callable[[Item], Hashable] | None = None,
) -> list[Result]:
    """``run`` over batches of ``window``, one result per item, in the order of ``window``.

    ``key`` is the length to group by (a tuple sorts lexicographically); ``None`` keeps
    the input order, so batches are consecutive items as in a plain loop.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    order = list(range(len(window)))
    if key is not None:
        order.sort(key=lambda i: key(window[i]))  # stable: equal lengths keep input order
    results: list = [None] * len(window)
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        answers = run([window[i] for i in chosen])
        if len(answers) != len(chosen):
            raise ValueError(f"run returned {len(answers)} results for a batch of {len(chosen)}")
        for i, answer in zip(chosen, answers, strict=True):
            results[i] = answer
    return results


def mapped_ahead(work: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]:
    """``work`` of each item in order, the next item's computed on a thread while the caller uses this one.

    For host work (tokenising, building ablated rows) that would otherwise leave an
    accelerator idle between forwards; ``items`` is still read on the caller's thread.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="vlexplore-ahead") as pool:
        pending: Future[Result] | None = None
        for item in items:
            upcoming = pool.submit(work, item)
            if pending is not None:
                yield pending.result()
            pending = upcoming
        if pending is not None:
            yield pending.result()
