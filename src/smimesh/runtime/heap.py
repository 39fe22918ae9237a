"""The control plane's start-up heap, out of the cyclic garbage collector's sight.

Owns `freeze_startup_heap()` (`smimesh up` once started, the Kubernetes controller once its first
full pass is published) and `thaw()` (their stop, so an in-process caller such as a test gets its
heap back under the collector). A full collection walks every tracked object: with the start-up heap
in it (modules, pydantic schemas, gRPC, the informers' caches, the first model and snapshots), each
one paused the event loop for tens to hundreds of milliseconds (issue 6: the metrics API's p99;
issue 12: a full collection every ~2 s cost ~0.3 s of CPU under endpoint churn at 1,000 pods).
Frozen objects are still freed by reference counting; only cycles among them are never collected,
and start-up builds its objects to live. Garbage is collected first so it is not frozen.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    gc.collect()
    gc.freeze()


def thaw() -> None:
    gc.unfreeze()
