"""One rate budget per HUMAN account, shared by every task using it at the same moment (docs/scaling.md).

Below the hooks and above the client: it imports nothing of Airflow at module level.
"""
