"""One review answer in its own process: the review task of a day resuming with a person's answer.

argv: listing file (the {ledger id: version} XCom its request was opened with), the option
chosen, the person's name, and optionally a go file to wait for (so that two answers overlap).
The connections come from the environment (AIRFLOW_CONN_HUMAN_DEFAULT, AIRFLOW_CONN_HUMAN_CASE_DB).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from airflow_provider_human.operators.review import LISTED_KEY, HumanReconciliationReviewOperator


class _TI:
    def __init__(self, listed: dict) -> None:
        self.xcom = {LISTED_KEY: listed}
        self.dag_id, self.run_id, self.task_id, self.map_index, self.try_number = "d", "r", "review", -1, 1

    def xcom_pull(self, task_ids=None, key=None, map_indexes=None):
        return self.xcom.get(key)


def main() -> None:
    listing, option, person = sys.argv[1:4]
    if len(sys.argv) > 4:
        gate = Path(sys.argv[4])
        while not gate.exists():
            time.sleep(0.005)
    op = HumanReconciliationReviewOperator(task_id="review", verify_after_seconds=0.2, wait_for_others_seconds=5)
    event = {"chosen_options": [option], "params_input": {}, "responded_at": datetime.now(UTC),
             "responded_by_user": {"name": person, "id": person}}  # fmt: skip
    try:
        result, error = op.execute_complete({"ti": _TI(json.loads(Path(listing).read_text()))}, event), None
    except Exception as exc:  # the task's failure, as Airflow would record it
        result, error = None, f"{type(exc).__name__}: {exc}"
    print(json.dumps({"result": result, "error": error}))


if __name__ == "__main__":
    main()
