"""Default settings, import-free so provider discovery can read them without importing Airflow."""

DEFAULT_BASE_URL = "https://console.humansecurity.com"
# The console the vendor pages name (its portal pages have no documented deep links): a connection setting.
DEFAULT_CONSOLE_URL = "https://console.humansecurity.com"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
# HUMAN does not publish its per-customer limit: stay well below anything plausible and
# let users raise it once they know theirs (docs/connection.md).
DEFAULT_REQUESTS_PER_SECOND = 20.0
DEFAULT_MAX_WORKERS = 8
# The API's maximum batch size is not documented either: 500 ids per upload is modest.
DEFAULT_FEEDBACK_BATCH_SIZE = 500
DEFAULT_MAX_RETRY_AFTER = 120.0
# PostgreSQL: a decision transaction takes well under a second; two minutes of waiting for one
# means its holder is stopped or hung, and the run fails for retry naming it.
DEFAULT_DECISION_LOCK_SECONDS = 120.0
