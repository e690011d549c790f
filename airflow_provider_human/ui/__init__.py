"""The HUMAN page in the Airflow UI: a FastAPI app the api-server mounts at ``/human`` (docs/ui.md).

Nothing here is imported by tasks or at DAG parse time; the api-server imports it through the
provider's plugin.
"""
