"""The Spark job in local mode: the same results and refusals as the single-machine scorer."""

import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from data_product_runtime import Project
from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.model import Model, ModelMetadata
from data_product_runtime.core.scoring import quarantine_schema, result_schema
from data_product_runtime.io.datasets import DataError
from data_product_runtime.io.files import FileReader, FileWriter
from data_product_runtime.jobs import spark_scoring
from data_product_runtime.jobs.scoring import QUARANTINED_EXIT_CODE, score
from data_product_runtime.project import PROJECT_VARIABLE

# Apache Spark starts a JVM: slow, and left to the full tier.
pytestmark = [pytest.mark.slow, pytest.mark.full]

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    if shutil.which("java") is None and "JAVA_HOME" not in os.environ:
        pytest.fail(
            "Spark needs Java 17 or newer: `apt-get install openjdk-17-jre-headless` (README)"
        )
    with pytest.MonkeyPatch.context() as patch:
        # Executors must use this interpreter (with pyarrow and the runtime), on loopback, and
        # find the example projects' module.
        patch.setenv("PYSPARK_PYTHON", sys.executable)
        patch.setenv("PYTHONPATH", python_path())
        patch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        session = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        yield session
        session.stop()


def python_path() -> str:
    """PYTHONPATH with this folder first (the module of the example projects)."""
    return os.pathsep.join([str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])


def dirty_table(bundled: Dataset, rows: int) -> pa.Table:
    """Rows with ids, three of them bad (missing, NaN, infinite first feature)."""
    values = bundled.features[np.arange(rows) % len(bundled)].copy()
    values[[4, 40, 77], 0] = [np.nan, np.nan, np.inf]
    columns: dict[str, object] = {"id": [f"r{i:04d}" for i in range(rows)]}
    columns.update({name: values[:, i] for i, name in enumerate(bundled.feature_names)})
    table = pa.table(columns)
    first = bundled.feature_names[0]
    mask = np.zeros(rows, dtype=bool)
    mask[4] = True  # a real null, besides the NaN
    return table.set_column(1, first, pa.array(values[:, 0], mask=mask))


def single_machine(model: Model, source: Path, folder: Path) -> tuple[pa.Table, pa.Table]:
    reader = FileReader(
        str(source),
        numeric_columns=list(model.metadata.feature_names),
        text_columns=["id"],
        batch_rows=64,
        csv_block_bytes=1 << 16,
    )
    with (
        FileWriter(str(folder / "local.parquet"), result_schema(model, "id")) as results,
        FileWriter(str(folder / "local_bad.parquet"), quarantine_schema("id")) as refused,
    ):
        score(model, reader, results, refused, key_column="id")
    return pq.read_table(folder / "local.parquet"), pq.read_table(folder / "local_bad.parquet")


def assert_same_results(local: pa.Table, spark: pa.Table) -> None:
    local_rows = {row["id"]: row for row in local.to_pylist()}
    spark_rows = {row["id"]: row for row in spark.to_pylist()}
    assert spark_rows.keys() == local_rows.keys()
    for key, row in local_rows.items():
        other = spark_rows[key]
        assert other["prediction"] == row["prediction"] or math.isclose(
            other["prediction"], row["prediction"], rel_tol=1e-12
        )
        assert other["model_version"] == row["model_version"]
        for name, value in row.items():
            if name.startswith("probability_"):
                assert math.isclose(other[name], value, rel_tol=1e-12)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_spark_scores_what_the_single_machine_scorer_scores(
    spark: SparkSession, tmp_path: Path, model: Model, bundled: Dataset, suffix: str
) -> None:
    source = tmp_path / f"in{suffix}"
    table = dirty_table(bundled, 240)
    if suffix == ".csv":
        pa_csv.write_csv(table, source)
    else:
        pq.write_table(table, source)
    local, local_bad = single_machine(model, source, tmp_path)
    summary = spark_scoring.score_with_spark(
        spark,
        model,
        str(source),
        output=str(tmp_path / "out"),
        quarantine=str(tmp_path / "bad"),
        key="id",
    )
    assert (summary.scored, summary.quarantined) == (237, 3)
    assert (tmp_path / "out" / "_SUCCESS").exists()
    assert_same_results(local, pq.read_table(tmp_path / "out"))
    refused = pq.read_table(tmp_path / "bad").to_pylist()
    expected = {row["id"]: row["reason"] for row in local_bad.to_pylist()}
    assert {row["id"]: row["reason"] for row in refused} == expected
    assert set(expected) == {"r0004", "r0040", "r0077"}


def test_an_input_without_the_key_or_a_feature_is_refused(
    spark: SparkSession, tmp_path: Path, model: Model, bundled: Dataset
) -> None:
    first = bundled.feature_names[0]
    pq.write_table(dirty_table(bundled, 100).drop_columns(["id", first]), tmp_path / "in.parquet")
    with pytest.raises(DataError, match=f"no column for {first}, id"):
        spark_scoring.score_with_spark(
            spark,
            model,
            str(tmp_path / "in.parquet"),
            output=str(tmp_path / "o"),
            quarantine=str(tmp_path / "b"),
            key="id",
        )


def test_the_spark_submit_entry_point(  # noqa: PLR0913, PLR0917  (fixtures)
    project: Project,
    spark: SparkSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    registry_dir: Path,
    trained: ModelMetadata,
    bundled: Dataset,
) -> None:
    monkeypatch.setenv("EXAMPLE_MODEL_DIR", str(registry_dir))
    monkeypatch.setenv(PROJECT_VARIABLE, "")  # undone after the test, like the export below
    project.export()
    monkeypatch.setattr(spark_scoring, "spark_session", lambda _master: spark)
    monkeypatch.setattr(spark, "stop", lambda: None)  # the module's session outlives this test
    pq.write_table(dirty_table(bundled, 100), tmp_path / "in.parquet")
    code = spark_scoring.main(
        [str(tmp_path / "in.parquet"), str(tmp_path / "out"), "--model", trained.version]
    )
    assert code == QUARANTINED_EXIT_CODE
    assert pq.read_table(tmp_path / "out").num_rows == 97
    assert pq.read_table(tmp_path / "out_quarantine").num_rows == 3


def test_spark_submit_runs_the_job_file_for_the_exported_project(  # noqa: PLR0913, PLR0917
    project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    registry_dir: Path,
    trained: ModelMetadata,
    bundled: Dataset,
) -> None:
    """``spark-submit .../jobs/spark_scoring.py``: driver and executors find the project."""
    submit = shutil.which("spark-submit") or str(Path(sys.executable).parent / "spark-submit")
    monkeypatch.setenv(PROJECT_VARIABLE, "")  # undone after the test, like the export below
    project.export()
    pq.write_table(dirty_table(bundled, 100), tmp_path / "in.parquet")
    env = {
        **os.environ,
        "EXAMPLE_MODEL_DIR": str(registry_dir),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "PYTHONPATH": python_path(),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    finished = subprocess.run(
        [
            submit, "--master", "local[1]", "--conf", "spark.ui.enabled=false",
            spark_scoring.__file__,
            str(tmp_path / "in.parquet"), str(tmp_path / "out"), "--model", trained.version,
        ],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert finished.returncode == QUARANTINED_EXIT_CODE, finished.stderr
    assert "scored 97 rows; 3 quarantined" in finished.stdout
    assert pq.read_table(tmp_path / "out").num_rows == 97
    assert pq.read_table(tmp_path / "out_quarantine").num_rows == 3
