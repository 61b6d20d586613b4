"""Memory snapshots of a Home Assistant under `scripts/bench load --memory`.

Python imports `sitecustomize` at start-up from the path; the benchmark puts this
folder on PYTHONPATH of the Home Assistant it starts, and nothing else does. With
OCPP_BENCH_TRACEMALLOC set to a folder, it traces allocations from the start, and
each SIGUSR2 writes a snapshot there (`snapshot-N.pickle`, then `snapshot-N.done`).
"""

import os

_FOLDER = os.environ.get("OCPP_BENCH_TRACEMALLOC")

if _FOLDER:
    import gc
    import signal
    import tracemalloc
    from itertools import count
    from pathlib import Path

    _FRAMES = 25  # deep enough to reach the integration's frames from Home Assistant's
    _numbers = count()
    _SNAPSHOTS = Path(_FOLDER)
    tracemalloc.start(_FRAMES)

    def _snapshot(_signal: int, _frame: object) -> None:
        number = next(_numbers)
        gc.collect()  # count what is held, not what waits for the collector
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        snapshot.dump(str(_SNAPSHOTS / f"snapshot-{number}.pickle"))
        (_SNAPSHOTS / f"snapshot-{number}.done").touch()

    signal.signal(signal.SIGUSR2, _snapshot)
