"""Parse time of each example DAG, as Airflow's DagBag measures it (goal < 0.5 s each).

Airflow itself is imported first (every worker and dag-processor has it loaded); each file
is then parsed 5 times in a fresh DagBag and the median is reported.

    .venv/bin/python benchmarks/bench_dag_parse.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"


def main() -> int:
    from airflow.dag_processing.dagbag import DagBag

    ok = True
    for path in sorted(DAGS.glob("*.py")):
        times = []
        for _ in range(5):
            for name in [m for m in sys.modules if m.startswith("unusual_prefix_")]:
                del sys.modules[name]  # DagBag caches modules by a generated name: parse afresh each time
            started = time.perf_counter()
            bag = DagBag(dag_folder=str(path))
            times.append(time.perf_counter() - started)
            assert not bag.import_errors, bag.import_errors
        median = statistics.median(times)
        ok &= median < 0.5
        print(f"{path.name:32s} median {median * 1000:7.1f} ms  (first {times[0] * 1000:7.1f} ms)  "
              f"goal < 500 ms: {'met' if median < 0.5 else 'MISSED'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
