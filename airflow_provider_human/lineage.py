"""What a try read and wrote, as asset URIs: told to Airflow's hook lineage collector as it happens,
and handed to OpenLineage when the task completes (the openlineage provider stays optional).

URIs come from :mod:`airflow_provider_human.assets`: a HUMAN endpoint by host only, a table by
host, database and name, a file by its path; never a token, a user or a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _collector() -> Any:
    from airflow.sdk import lineage  # looked up at each call: Airflow's collector is a cached singleton

    return lineage.get_hook_lineage_collector()


@dataclass
class Touched:
    """The URIs one try read (``inputs``) and wrote (``outputs``), each once, in the order touched."""

    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def read(self, uri: str, context: Any) -> None:
        if uri not in self.inputs:
            self.inputs.append(uri)
        _collector().add_input_asset(context=context, uri=uri)

    def wrote(self, uri: str, context: Any) -> None:
        if uri not in self.outputs:
            self.outputs.append(uri)
        _collector().add_output_asset(context=context, uri=uri)


def operator_lineage(*touched: Touched) -> Any:
    """An OpenLineage ``OperatorLineage`` of everything touched (imports the openlineage provider)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_human.assets import openlineage_name

    def datasets(uris: list[str]) -> list[Any]:
        seen = list(dict.fromkeys(uris))
        return [Dataset(namespace=ns, name=name) for ns, name in map(openlineage_name, seen)]

    return OperatorLineage(
        inputs=datasets([u for t in touched for u in t.inputs]),
        outputs=datasets([u for t in touched for u in t.outputs]),
    )
