"""The ``human://`` asset scheme: what a HUMAN task touched, as Airflow assets and lineage.

``human://<host of the connection's Base URL>/<resource>``: ``feedback`` (``update_status``,
written), ``accounts`` (lookups, read), ``identities`` (identity updates, written). Only the
host (and a port other than 443) names the HUMAN account's endpoint: the token, a user or a
path never enter a URI. The host is the connection's, known only when a task runs, so
operators declare an :class:`~airflow.sdk.AssetAlias` per connection at parse time and attach
the concrete asset to it at run time (a DAG scheduled on the alias runs on its events).

Registered in ``get_provider_info`` (``asset-uris``): :func:`sanitize_uri` normalizes and
validates, :func:`create_asset` builds one for the hook lineage collector, and
:func:`convert_asset_to_openlineage` names it for OpenLineage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    from airflow.sdk import Asset, AssetAlias, ObjectStoragePath

SCHEME = "human"
FEEDBACK = "feedback"
ACCOUNTS = "accounts"
IDENTITIES = "identities"
RESOURCES = (FEEDBACK, ACCOUNTS, IDENTITIES)


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's normalizer for ``human://``: lower-case host, no user info, no default port, a known resource."""
    host = (uri.hostname or "").lower()
    if not host:
        raise ValueError(
            "A human:// asset URI must name the host of the HUMAN Base URL, e.g. human://console.humansecurity.com/feedback"
        )
    resource = uri.path.strip("/")
    if resource not in RESOURCES:
        raise ValueError(f"A human:// asset URI names one of {', '.join(RESOURCES)}, not {resource!r}")
    if uri.query:
        raise ValueError("A human:// asset URI takes no query")
    netloc = host if uri.port in (None, 443) else f"{host}:{uri.port}"
    return uri._replace(scheme=SCHEME, netloc=netloc, path=f"/{resource}", query="", fragment="")


def endpoint_host(base_url: str) -> str:
    """``host[:port]`` of a Base URL as the asset names it (user info and the path dropped)."""
    text = base_url.strip()
    parts = urlsplit(text if "://" in text else f"https://{text}")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("the Base URL has no host")
    return host if parts.port in (None, 443) else f"{host}:{parts.port}"


def human_uri(base_url: str, resource: str) -> str:
    """``human://<host>/<resource>`` for the HUMAN endpoint at ``base_url``."""
    if resource not in RESOURCES:
        raise ValueError(f"resource must be one of {RESOURCES}")
    return f"{SCHEME}://{endpoint_host(base_url)}/{resource}"


def create_asset(*, host: str, resource: str = FEEDBACK, extra: dict[str, Any] | None = None) -> Asset:
    """The hook lineage collector's factory for ``scheme="human"``."""
    from airflow.sdk import Asset

    uri = human_uri(host, resource)
    return Asset(name=uri, uri=uri, extra=extra)


def feedback_asset(base_url: str) -> Asset:
    """The feedback asset of the HUMAN endpoint at ``base_url`` (its name is its URI)."""
    return create_asset(host=base_url, resource=FEEDBACK)


def feedback_alias(human_conn_id: str = "human_default") -> AssetAlias:
    """What a reconciliation through ``human_conn_id`` declares: its feedback asset, resolved when it runs."""
    from airflow.sdk import AssetAlias

    return AssetAlias(name=f"human_feedback__{human_conn_id}")


def lookup_files_alias(human_conn_id: str = "human_default") -> AssetAlias:
    """What a lookup with ``output_path`` through ``human_conn_id`` declares: the files it writes."""
    from airflow.sdk import AssetAlias

    return AssetAlias(name=f"human_lookup_files__{human_conn_id}")


def file_uri(path: ObjectStoragePath) -> str:
    """A file's asset URI: ``file:///abs/path`` or ``s3://bucket/key`` (an ``aws_default@`` connection id dropped)."""
    protocol = path.protocol or "file"
    if protocol in ("file", "local"):
        return f"file://{path.path}"
    return f"{protocol}://{path.path}"


def convert_asset_to_openlineage(asset: Any, lineage_context: Any = None) -> Any:
    """OpenLineage's name for a ``human://`` asset: namespace ``human://<host>``, name the resource."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    namespace, name = openlineage_name(asset.uri)
    return Dataset(namespace=namespace, name=name)


def openlineage_name(uri: str) -> tuple[str, str]:
    """(namespace, name) of an asset URI as OpenLineage names datasets (``postgres``: ``db.schema.table``)."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return f"file://{parts.netloc}", parts.path
    if parts.scheme == "postgres":
        return f"postgres://{parts.netloc}", ".".join(p for p in parts.path.split("/") if p)
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def table_uri(url: Any, table: str) -> str:
    """The asset URI of ``table`` in the database at SQLAlchemy ``url``: never its user or password.

    PostgreSQL as its provider names tables (``postgres://host:5432/db/schema/table``, schema
    ``public`` when not given); any other database ``<backend>://<host>[:port]/<database>/<table>``
    (SQLite: the file's path as the database, ``localhost`` as the host).
    """
    schema, _, name = table.rpartition(".")
    backend = url.get_backend_name()
    host = url.host or "localhost"
    database = (url.database or "").strip("/")
    if backend == "postgresql":
        return f"postgres://{host}:{url.port or 5432}/{database}/{schema or 'public'}/{name}"
    netloc = f"{host}:{url.port}" if url.port else host
    return f"{backend}://{netloc}/{database}/{table}"
