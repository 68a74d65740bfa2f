"""Every setting the runtime reads; a project subclasses :class:`Settings` to set its
environment prefix (``<PACKAGE>_*``) and its own defaults."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the project reads from its environment, with safe defaults."""

    model_config = SettingsConfigDict(env_prefix="", env_file=".env", extra="ignore")

    model_dir: Path = Field(Path("models"), description="Registry folder of trained models.")
    registry_backend: Literal["local", "mlflow"] = Field(
        "local", description="Where models live: model_dir, or the MLflow server."
    )
    mlflow_tracking_uri: str = Field(
        "http://127.0.0.1:5000", description="MLflow tracking server holding the model registry."
    )
    mlflow_model_name: str = Field("model", description="Registered model name in MLflow.")
    data_path: Path | None = Field(
        None, description="CSV or Parquet training table; the bundled dataset when unset."
    )
    target_column: str = Field("target", description="Column of data_path holding the label.")
    trusted_types: tuple[str, ...] = Field(
        (),
        description="Types a model artifact may hold beyond scikit-learn's own; training names"
        " any it needs.",
    )
    test_size: float = Field(0.2, gt=0, lt=1, description="Share of rows held out for evaluation.")
    random_seed: int = Field(42, description="Seed for the split and the estimator.")
    model_version: str | None = Field(
        None, description="Version or alias the service loads; production, else the newest."
    )
    gate_tolerance: float = Field(
        0.01,
        ge=0,
        description="How much worse than production a model may be on the primary metric.",
    )
    host: str = Field("127.0.0.1", description="Address the HTTP service binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port of the HTTP service.")
    admin_token: SecretStr | None = Field(
        None,
        description="Bearer token of POST /admin/* and GET /models/{version}; unset, they are"
        " refused to everyone.",
    )
    admin_token_file: Path | None = Field(
        None, description="File whose first line is the admin token (a container secret)."
    )
    max_body_bytes: int = Field(
        1_000_000, gt=0, description="Largest request body the service accepts."
    )
    max_batch_records: int = Field(10_000, gt=0, description="Most records in one batch request.")
    request_timeout_seconds: float = Field(
        5.0, gt=0, description="Batch predictions taking longer are answered with 504."
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="A request's headers must arrive within this; else the"
        " connection is closed (clients sending a byte at a time).",
    )
    body_timeout_seconds: float = Field(
        30.0, gt=0, description="A request's body must arrive within this; else a 408."
    )
    max_connections: int = Field(
        1000, gt=0, description="Connections and requests a worker handles at once; beyond, 503."
    )
    routing_file: Path | None = Field(
        None, description="JSON file of A/B variants and shadow models (see README)."
    )
    routing: str | None = Field(None, description="The same routing as JSON, when no file is used.")
    reload_interval_seconds: float = Field(
        30.0, ge=0, description="How often the service re-reads routing and aliases (0: never)."
    )
    prediction_log: Path | None = Field(
        Path("logs/predictions.jsonl"), description="JSON-lines log of every prediction."
    )
    drift_window: int = Field(1000, gt=0, description="Recent rows the drift metrics compare.")
    log_level: str = Field("info", description="Level of the service's JSON logs.")
    workers: int = Field(
        1, ge=1, description="Service processes; metrics are then aggregated across them."
    )
    # Batch scoring and data adapters (score, score-table, score-stream, score-spark).
    score_batch_rows: int = Field(
        16_384, gt=0, description="Rows per batch read from Parquet, SQL and streams (at most)."
    )
    score_csv_block_bytes: int = Field(
        1 << 20,
        gt=0,
        description="Bytes of CSV parsed per batch; the reader holds about 16 blocks at once.",
    )
    score_key_column: str | None = Field(
        None,
        description="Input column that identifies a row (default: the model's id column, else"
        " id); rows are numbered when it is absent.",
    )
    database_url: str = Field(
        "sqlite:///data/scoring.sqlite",
        description="SQLAlchemy URL of the database that score-table reads and writes.",
    )
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        description="Kafka brokers that score-stream consumes from and produces to.",
    )
    kafka_group_id: str = Field(
        "scorer",
        description="Consumer group whose committed offsets score-stream resumes from.",
    )
