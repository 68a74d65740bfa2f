"""Scoring database tables: SQLite and a real PostgreSQL server started on 127.0.0.1."""

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from data_product_runtime import Project
from data_product_runtime.cli import build_cli
from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.model import Model, ModelMetadata
from data_product_runtime.core.scoring import quarantine_schema, result_schema
from data_product_runtime.io.adapters import FeatureReader
from data_product_runtime.io.sql import SqlReader, SqlWriter, create_engine
from data_product_runtime.jobs.scoring import QUARANTINED_EXIT_CODE, score

runner = CliRunner()


def _postgres_tools() -> tuple[Path, Path]:
    """initdb and pg_ctl from PATH or Debian's versioned folder, else a clear failure."""
    for folder in [None, *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]:
        initdb = shutil.which("initdb", path=None if folder is None else str(folder))
        pg_ctl = shutil.which("pg_ctl", path=None if folder is None else str(folder))
        if initdb and pg_ctl:
            return Path(initdb), Path(pg_ctl)
    pytest.fail(
        "PostgreSQL server programs (initdb, pg_ctl) are not installed: "
        "`apt-get install postgresql` (Debian/Ubuntu) or `brew install postgresql` (macOS); see README"
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (as user postgres when the tests run as root)."""
    initdb, pg_ctl = _postgres_tools()
    folder = Path(tempfile.mkdtemp(prefix="data_product_runtime-postgres-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        account = pwd.getpwnam("postgres")
        os.chown(folder, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run(
        [*as_user, str(initdb), "-D", str(data), "-A", "trust", "-U", "test"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    started = subprocess.run(
        [*as_user, str(pg_ctl), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    if started.returncode != 0:
        log = (folder / "log").read_text() if (folder / "log").exists() else ""
        pytest.fail(f"PostgreSQL did not start: {started.stderr}\n{log}")
    try:
        yield f"postgresql+psycopg://test@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(pg_ctl), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL (PostgreSQL: a fresh schema per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'scoring.sqlite'}"
    server: str = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(server)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return server


def load_features(url: str, bundled: Dataset, rows: int, bad: dict[int, object]) -> None:
    """A ``features`` table with ids ``r0000``...; ``bad`` puts a value in the first feature."""
    engine = sa.create_engine(url)
    names = bundled.feature_names
    columns = [sa.Column("id", sa.String, primary_key=True)]
    columns += [sa.Column(name, sa.Double) for name in names]
    table = sa.Table("features", sa.MetaData(), *columns)
    records = []
    for i in range(rows):
        record: dict[str, object] = {"id": f"r{i:04d}"}
        record.update(zip(names, map(float, bundled.features[i % len(bundled)]), strict=True))
        if i in bad:
            record[names[0]] = bad[i]
        records.append(record)
    with engine.begin() as connection:
        table.create(connection)
        connection.execute(table.insert(), records)
    engine.dispose()


def read_table(url: str, name: str) -> list[dict[str, object]]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT * FROM {name} ORDER BY 1, 2")).mappings().all()  # noqa: S608
    engine.dispose()
    return [dict(row) for row in rows]


def score_table(project: Project, url: str, registry_dir: Path, *extra: str) -> tuple[int, str]:
    """The project's ``score-table`` command: table ``features`` into ``scores``."""
    result = runner.invoke(
        build_cli(project),
        [
            "score-table",
            "features",
            "scores",
            "--database-url",
            url,
            "--model-dir",
            str(registry_dir),
            *extra,
        ],
    )
    return result.exit_code, result.output


def test_a_table_is_scored_into_another(  # noqa: PLR0913, PLR0917  (fixtures)
    project: Project,
    database: str,
    registry_dir: Path,
    trained: ModelMetadata,
    model: Model,
    bundled: Dataset,
) -> None:
    load_features(database, bundled, 300, {})
    code, text = score_table(project, database, registry_dir)
    assert code == 0, text
    assert "scored 300 of 300 rows" in text
    scores = read_table(database, "scores")
    assert [row["id"] for row in scores] == [f"r{i:04d}" for i in range(300)]
    assert {row["model_version"] for row in scores} == {trained.version}
    expected = [p.value for p in model.predict(bundled.features[np.arange(300) % len(bundled)])]
    assert [row["prediction"] for row in scores] == expected
    assert all(row["scored_at"] is not None for row in scores)
    assert read_table(database, "scores_quarantine") == []


def test_rescoring_updates_rows_instead_of_duplicating_them(
    project: Project, database: str, registry_dir: Path, trained: ModelMetadata, bundled: Dataset
) -> None:
    load_features(database, bundled, 120, {})
    assert score_table(project, database, registry_dir, "--model", trained.version)[0] == 0
    first = read_table(database, "scores")
    assert score_table(project, database, registry_dir, "--model", trained.version)[0] == 0
    second = read_table(database, "scores")
    assert len(second) == len(first) == 120
    assert [row["id"] for row in second] == [row["id"] for row in first]
    assert all(
        new["scored_at"] > old["scored_at"]  # type: ignore[operator]
        for new, old in zip(second, first, strict=True)
    )


def test_bad_rows_go_to_the_quarantine_table_with_their_key(
    project: Project, database: str, registry_dir: Path, bundled: Dataset
) -> None:
    load_features(database, bundled, 50, {3: None, 7: float("nan"), 9: float("inf")})
    code, text = score_table(project, database, registry_dir)
    assert code == QUARANTINED_EXIT_CODE, text
    assert "3 rows failed the checks" in text
    quarantined = read_table(database, "scores_quarantine")
    first = bundled.feature_names[0]
    assert [(row["id"], row["reason"]) for row in quarantined] == [
        ("r0003", f"{first}: no value (empty, null or NaN)"),
        ("r0007", f"{first}: no value (empty, null or NaN)"),
        ("r0009", f"{first}: not a finite number (inf)"),
    ]
    assert len(read_table(database, "scores")) == 47


def test_a_value_of_the_wrong_type_is_quarantined(
    project: Project, tmp_path: Path, registry_dir: Path, bundled: Dataset
) -> None:
    url = f"sqlite:///{tmp_path / 'typed.sqlite'}"
    load_features(url, bundled, 10, {})
    engine = sa.create_engine(url)
    with engine.begin() as connection:  # SQLite keeps text that is no number in a REAL column
        connection.execute(
            sa.text(f"UPDATE features SET {bundled.feature_names[0]} = 'twelve' WHERE id = 'r0004'")  # noqa: S608
        )
    engine.dispose()
    code, text = score_table(project, url, registry_dir)
    assert code == QUARANTINED_EXIT_CODE, text
    (row,) = read_table(url, "scores_quarantine")
    assert (row["id"], row["reason"]) == (
        "r0004",
        f"{bundled.feature_names[0]}: not a number ('twelve')",
    )


@pytest.mark.usefixtures("trained")
def test_a_missing_table_is_refused(project: Project, database: str, registry_dir: Path) -> None:
    code, text = score_table(project, database, registry_dir)
    assert code == 1
    assert "no table 'features'" in text


class _Failing(FeatureReader):
    def __init__(self, inner: SqlReader) -> None:
        self.inner = inner

    @property
    def location(self) -> str:
        return self.inner.location

    @property
    def column_names(self) -> list[str]:
        return self.inner.column_names

    def batches(self) -> Generator[pa.RecordBatch, None, None]:
        with contextlib.closing(self.inner.batches()) as batches:
            yield next(batches)
        msg = "connection lost"
        raise ConnectionError(msg)


def test_a_failed_run_writes_nothing(database: str, model: Model, bundled: Dataset) -> None:
    load_features(database, bundled, 100, {1: None})
    engine = create_engine(database)
    reader = SqlReader(
        engine,
        "features",
        columns=[*model.metadata.feature_names, "id"],
        order_by="id",
        batch_rows=30,
    )
    with (
        engine.connect() as connection,
        pytest.raises(ConnectionError),
        SqlWriter(connection, "scores", result_schema(model, "id"), "id") as results,
        SqlWriter(connection, "bad", quarantine_schema("id"), "id") as refused,
    ):
        score(model, _Failing(reader), results, refused, key_column="id")
    for table in ("scores", "bad"):  # PostgreSQL rolls the CREATE TABLE back too
        assert not sa.inspect(engine).has_table(table) or read_table(database, table) == []
    engine.dispose()


def test_an_existing_table_of_another_shape_is_refused(
    project: Project, database: str, registry_dir: Path, bundled: Dataset
) -> None:
    load_features(database, bundled, 5, {})
    engine = sa.create_engine(database)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE scores (id TEXT, model_version TEXT)"))
    engine.dispose()
    code, text = score_table(project, database, registry_dir)
    assert code == 1
    assert "exists without the columns" in text
