"""Batch scoring of files: checks before scoring, quarantine, bounded batches, atomic output."""

import contextlib
import errno
import io
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Generator
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from rich.console import Console
from typer.testing import CliRunner

from data_product_runtime import Project
from data_product_runtime.cli import build_cli
from data_product_runtime.cli.scoring import quarantine_location
from data_product_runtime.core.dataset import Dataset, Feature, FeatureKind
from data_product_runtime.core.model import Model, ModelMetadata
from data_product_runtime.core.scoring import check_batch, result_schema, score_matrix
from data_product_runtime.io import files
from data_product_runtime.io.adapters import FeatureReader
from data_product_runtime.io.files import FileReader, FileWriter, read_ahead
from data_product_runtime.jobs import progress
from data_product_runtime.jobs.scoring import QUARANTINED_EXIT_CODE, score

runner = CliRunner()


def feature_table(bundled: Dataset, rows: int, *, ids: bool = True) -> pa.Table:
    """The first ``rows`` bundled rows (repeated as needed) with ids like ``r0007``."""
    picked = bundled.features[np.arange(rows) % len(bundled)]
    columns: dict[str, object] = {"id": [f"r{i:04d}" for i in range(rows)]} if ids else {}
    columns.update({name: picked[:, i] for i, name in enumerate(bundled.feature_names)})
    return pa.table(columns)


def expected(model: Model, table: pa.Table) -> list[object]:
    matrix = np.column_stack(
        [table.column(name).to_numpy() for name in model.metadata.feature_names]
    )
    return [prediction.value for prediction in model.predict(matrix)]


def invoke(project: Project, registry_dir: Path, *arguments: str, **env: str) -> tuple[int, str]:
    """The project's command line, run on ``registry_dir``."""
    result = runner.invoke(
        build_cli(project), [*arguments, "--model-dir", str(registry_dir)], env=env
    )
    return result.exit_code, result.output


def test_check_batch_reports_each_bad_value_with_its_row() -> None:
    features = (
        Feature(name="x", kind=FeatureKind.NUMBER),
        Feature(name="n", kind=FeatureKind.INTEGER),
    )
    batch = pa.RecordBatch.from_pydict(
        {
            "x": pa.array(["1.5", None, "abc", "inf", "2", "nan", "3"]),
            "n": pa.array([1.0, 2.0, 3.0, 4.0, 5.5, 6.0, 7.0]),
        }
    )
    checked = check_batch(batch, features)
    assert checked.valid.tolist() == [True, False, False, False, False, False, True]
    assert checked.matrix.tolist() == [[1.5, 1.0], [3.0, 7.0]]
    assert checked.problems[1] == "x: no value (empty, null or NaN)"
    assert checked.problems[2] == "x: not a number ('abc')"
    assert checked.problems[3] == "x: not a finite number (inf)"
    assert checked.problems[4] == "n: not an integer (5.5)"
    assert checked.problems[5] == "x: no value (empty, null or NaN)"


def test_check_batch_refuses_columns_of_other_types() -> None:
    features = (Feature(name="x", kind=FeatureKind.NUMBER),)
    batch = pa.RecordBatch.from_pydict({"x": pa.array([[1.0], [2.0]])})
    checked = check_batch(batch, features)
    assert not checked.valid.any()
    assert "not a number (column type list<item: double>)" in checked.problems[0]


def test_scores_are_the_models_predictions(
    problem_type: str, model: Model, bundled: Dataset
) -> None:
    columns = score_matrix(model, bundled.features[:50])
    assert columns["prediction"].to_pylist() == [
        p.value for p in model.predict(bundled.features[:50])
    ]
    first = model.predict(bundled.features[:1])[0]
    if problem_type == "classification":
        assert first.probabilities
        for label, probability in first.probabilities.items():
            assert math.isclose(columns[f"probability_{label}"][0].as_py(), probability)
    else:
        assert first.probabilities is None
        assert not [name for name in columns if name.startswith("probability_")]


def test_score_a_csv_file(  # noqa: PLR0913, PLR0917  (fixtures)
    project: Project,
    tmp_path: Path,
    registry_dir: Path,
    trained: ModelMetadata,
    model: Model,
    bundled: Dataset,
) -> None:
    table = feature_table(bundled, 700)
    source = tmp_path / "in.csv"
    pa_csv.write_csv(table, source)
    output = tmp_path / "out" / "scores.csv"
    code, text = invoke(project, registry_dir, "score", str(source), str(output))
    assert code == 0, text
    assert "scored 700 of 700 rows" in text
    scores = pa_csv.read_csv(
        output, convert_options=pa_csv.ConvertOptions(column_types={"id": pa.string()})
    )
    assert scores.column("id").to_pylist() == table.column("id").to_pylist()
    assert scores.column("model_version").to_pylist() == [trained.version] * 700
    assert scores.column("scored_at").null_count == 0
    assert scores.column("prediction").to_pylist() == expected(model, table)
    quarantine = pa_csv.read_csv(tmp_path / "out" / "scores.quarantine.csv")
    assert quarantine.num_rows == 0
    assert quarantine.column_names == ["row", "id", "reason", "record", "model_version"]
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "scores.csv",
        "scores.quarantine.csv",
    ]


def test_bad_rows_are_quarantined_with_their_row_and_key_never_scored(
    project: Project, tmp_path: Path, registry_dir: Path, trained: ModelMetadata, bundled: Dataset
) -> None:
    table = feature_table(bundled, 3000)
    first = bundled.feature_names[0]
    lines = pa_csv.write_csv(table, tmp_path / "clean.csv")
    del lines
    text = (tmp_path / "clean.csv").read_text().splitlines()
    header = text[0].split(",")
    position = header.index(f'"{first}"')

    def spoil(line_number: int, value: str) -> None:
        cells = text[line_number].split(",")
        cells[position] = value
        text[line_number] = ",".join(cells)

    # Row 2500 lies beyond the first block: the fast typed read meets "oops" only there.
    for row, value in [(5, ""), (17, "NaN"), (2500, "oops"), (2999, "inf")]:
        spoil(row, value)
    source = tmp_path / "dirty.csv"
    source.write_text("\n".join(text) + "\n")
    output = tmp_path / "scores.parquet"
    code, result = invoke(
        project,
        registry_dir,
        "score",
        str(source),
        str(output),
        EXAMPLE_SCORE_CSV_BLOCK_BYTES="65536",
    )
    assert code == QUARANTINED_EXIT_CODE, result
    assert "4 rows failed the checks and were quarantined" in result
    scores = pq.read_table(output)
    assert scores.num_rows == 2996
    quarantine = pq.read_table(tmp_path / "scores.quarantine.parquet").to_pylist()
    assert [(q["row"], q["id"]) for q in quarantine] == [
        (5, "r0004"),
        (17, "r0016"),
        (2500, "r2499"),
        (2999, "r2998"),
    ]
    assert quarantine[0]["reason"] == f"{first}: no value (empty, null or NaN)"
    assert quarantine[2]["reason"] == f"{first}: not a number ('oops')"
    assert quarantine[3]["reason"] == f"{first}: not a finite number (inf)"
    assert '"oops"' in quarantine[2]["record"]
    assert {q["model_version"] for q in quarantine} == {trained.version}
    assert not set(scores.column("id").to_pylist()) & {q["id"] for q in quarantine}


def test_parquet_in_small_batches_gives_the_same_scores_as_csv(
    project: Project, tmp_path: Path, registry_dir: Path, model: Model, bundled: Dataset
) -> None:
    table = feature_table(bundled, 1000)
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=300)
    code, text = invoke(
        project, registry_dir, "score", str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet"),
        EXAMPLE_SCORE_BATCH_ROWS="128",
    )  # fmt: skip
    assert code == 0, text
    scores = pq.read_table(tmp_path / "out.parquet")
    assert scores.column("id").to_pylist() == table.column("id").to_pylist()
    assert scores.column("prediction").to_pylist() == expected(model, table)


def test_a_folder_of_parquet_files_is_one_input(
    project: Project, tmp_path: Path, registry_dir: Path, trained: ModelMetadata, bundled: Dataset
) -> None:
    table = feature_table(bundled, 90)
    (tmp_path / "in").mkdir()
    pq.write_table(table.slice(0, 50), tmp_path / "in" / "part-0.parquet")
    pq.write_table(table.slice(50), tmp_path / "in" / "part-1.parquet")
    code, text = invoke(
        project, registry_dir, "score", str(tmp_path / "in"), str(tmp_path / "o.parquet")
    )
    assert code == 0, text
    scores = pq.read_table(tmp_path / "o.parquet")
    assert sorted(scores.column("id").to_pylist()) == table.column("id").to_pylist()
    assert set(scores.column("model_version").to_pylist()) == {trained.version}


def test_rows_without_a_key_column_are_numbered(
    project: Project, tmp_path: Path, registry_dir: Path, bundled: Dataset
) -> None:
    pq.write_table(feature_table(bundled, 20, ids=False), tmp_path / "in.parquet")
    code, text = invoke(
        project, registry_dir, "score", str(tmp_path / "in.parquet"), str(tmp_path / "o.csv")
    )
    assert code == 0, text
    scores = pa_csv.read_csv(tmp_path / "o.csv")
    assert scores.column("row").to_pylist() == list(range(1, 21))


def test_an_input_without_a_feature_column_is_refused_and_nothing_is_written(
    project: Project, tmp_path: Path, registry_dir: Path, bundled: Dataset
) -> None:
    table = feature_table(bundled, 10)
    missing = bundled.feature_names[3]
    pa_csv.write_csv(table.drop_columns([missing]), tmp_path / "in.csv")
    code, text = invoke(
        project, registry_dir, "score", str(tmp_path / "in.csv"), str(tmp_path / "o.csv")
    )
    assert code == 1
    assert f"no column for the model's features {missing}" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing.csv", "no such file"), ("data.json", "unsupported file type '.json'")],
)
@pytest.mark.usefixtures("trained")
def test_unusable_inputs_are_refused(
    project: Project, tmp_path: Path, registry_dir: Path, name: str, message: str
) -> None:
    (tmp_path / "data.json").write_text("{}")
    code, text = invoke(
        project, registry_dir, "score", str(tmp_path / name), str(tmp_path / "o.csv")
    )
    assert code == 1
    assert message in text


@pytest.mark.parametrize("rows", [5, 3000], ids=["in-the-first-block", "further-on"])
def test_a_row_with_the_wrong_number_of_fields_is_quarantined_with_its_line(  # noqa: PLR0913, PLR0917
    project: Project, tmp_path: Path, model: Model, registry_dir: Path,
    bundled: Dataset, rows: int,
) -> None:  # fmt: skip
    table = feature_table(bundled, rows + 3)
    pa_csv.write_csv(table.slice(0, rows), tmp_path / "in.csv")
    after = io.BytesIO()
    pa_csv.write_csv(table.slice(rows), after, pa_csv.WriteOptions(include_header=False))
    with (tmp_path / "in.csv").open("ab") as data:
        data.write(b"r-bad,2,3\n" + after.getvalue())
    code, text = invoke(
        project, registry_dir, "score", str(tmp_path / "in.csv"), str(tmp_path / "o.csv"),
        EXAMPLE_SCORE_CSV_BLOCK_BYTES="65536",
    )  # fmt: skip
    assert code == QUARANTINED_EXIT_CODE, text
    scores = pa_csv.read_csv(tmp_path / "o.csv")
    assert scores.column("id").to_pylist() == table.column("id").to_pylist()
    # Values equal but for the last digit: the batches' matrices differ in shape (BLAS order).
    wanted = expected(model, table)
    near = pytest.approx(wanted, rel=1e-12) if isinstance(wanted[0], float) else wanted
    assert scores.column("prediction").to_pylist() == near
    (refused,) = pa_csv.read_csv(tmp_path / "o.quarantine.csv").to_pylist()
    width = len(bundled.feature_names) + 1
    assert refused["row"] == rows + 1
    assert refused["reason"] == (
        f'line {rows + 2}: 3 fields where the header has {width}: ["r-bad", "2", "3"]'
    )


@pytest.mark.usefixtures("trained")
def test_a_csv_that_is_not_text_is_refused_with_its_line(
    project: Project, tmp_path: Path, registry_dir: Path, bundled: Dataset
) -> None:
    pa_csv.write_csv(feature_table(bundled, 5), tmp_path / "in.csv")
    with (tmp_path / "in.csv").open("ab") as data:
        data.write(b"r-bad,2,3\n\xff\xfe,1\n")
    code, text = invoke(project, registry_dir, "score", str(tmp_path / "in.csv"), "o.csv")
    assert code == 1
    assert "in.csv, line 8: malformed CSV: 'utf-8' codec can't decode byte 0xff" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["in.csv", "in.csv"], "input and output are the same file"),
        (["in.csv", "./sub/../in.csv"], "input and output are the same file"),
        (["in.csv", "o.csv", "--quarantine", "in.csv"], "input and quarantine are the same file"),
        (["in.csv", "o.csv", "--quarantine", "o.csv"], "output and quarantine are the same file"),
    ],
)
@pytest.mark.usefixtures("trained")
def test_an_output_that_would_overwrite_an_input_is_refused(  # noqa: PLR0913, PLR0917  (fixtures)
    project: Project, tmp_path: Path, registry_dir: Path, bundled: Dataset,
    monkeypatch: pytest.MonkeyPatch, arguments: list[str], message: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    pa_csv.write_csv(feature_table(bundled, 20), tmp_path / "in.csv")
    before = (tmp_path / "in.csv").read_bytes()
    code, text = invoke(project, registry_dir, "score", *arguments)
    assert code == 1
    assert message in text
    assert (tmp_path / "in.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "sub"]


@pytest.mark.parametrize("damage", ["zeroed sha256", "appended", "deleted"])
def test_score_refuses_a_model_that_is_not_the_one_registered(  # noqa: PLR0913, PLR0917
    project: Project, tmp_path: Path, trained: ModelMetadata, registry_dir: Path,
    bundled: Dataset, damage: str,
) -> None:  # fmt: skip
    """Batch scoring loads the portable form, yet checks the same digests as the service."""
    registry = tmp_path / "models"
    shutil.copytree(registry_dir, registry)
    folder = registry / trained.version
    if damage == "zeroed sha256":
        metadata = json.loads((folder / "metadata.json").read_text())
        metadata["artifact_sha256"] = "0" * 64
        (folder / "metadata.json").write_text(json.dumps(metadata))
    elif damage == "appended":
        with (folder / "model.skops").open("ab") as artifact:
            artifact.write(b"\0")
    else:
        (folder / "model.skops").unlink()
    pa_csv.write_csv(feature_table(bundled, 20), tmp_path / "in.csv")
    code, text = invoke(
        project, registry, "score", str(tmp_path / "in.csv"), str(tmp_path / "o.csv"),
        "--model", "candidate",  # an alias names a version even once it is incomplete
    )  # fmt: skip
    assert code == 1
    assert text.startswith(f"error: model {trained.version}: "), text
    assert len(text.strip().splitlines()) == 1
    assert not (tmp_path / "o.csv").exists()


class _FullFile(io.RawIOBase):
    """A file on a full disk: every write fails as the kernel's would."""

    def writable(self) -> bool:
        return True

    def write(self, _data: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _FullDisk(pafs.FSSpecHandler):  # type: ignore[misc]
    def open_output_stream(self, path: str, metadata: object) -> pa.NativeFile:
        return pa.PythonFile(_FullFile(), mode="w")


def _on_a_full_disk(resolve: Callable[[str], tuple[pafs.FileSystem, str]]) -> Callable[..., object]:
    def full(location: str) -> tuple[pafs.FileSystem, str]:
        _, path = resolve(location)
        return pafs.PyFileSystem(_FullDisk(fsspec.filesystem("file"))), path

    return full


@pytest.mark.usefixtures("trained")
def test_a_full_disk_while_scoring_is_one_line_and_leaves_nothing(
    project: Project, tmp_path: Path, registry_dir: Path, bundled: Dataset,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    pa_csv.write_csv(feature_table(bundled, 50), tmp_path / "in.csv")

    monkeypatch.setattr(files, "resolve", _on_a_full_disk(files.resolve))
    code, text = invoke(
        project, registry_dir, "score", str(tmp_path / "in.csv"), str(tmp_path / "o.csv")
    )
    assert code == 1
    assert text.strip().splitlines() == [
        f"error: {tmp_path / 'o.csv'}: No space left on device; free some space and run it"
        " again (nothing partial was kept)"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.usefixtures("trained")
def test_partial_files_of_killed_runs_are_deleted_by_the_next_run(
    project: Project, tmp_path: Path, registry_dir: Path, bundled: Dataset
) -> None:
    pa_csv.write_csv(feature_table(bundled, 20), tmp_path / "in.csv")
    child = subprocess.Popen(["true"])  # its pid no longer runs once waited for
    child.wait()
    host = socket.gethostname()
    abandoned = tmp_path / f".o.csv.{host}-{child.pid}.0123abcd.partial"
    running = tmp_path / f".o.csv.{host}-{os.getpid()}.4567cdef.partial"
    for partial in (abandoned, running):
        partial.write_text("half of a result")
    code, text = invoke(
        project, registry_dir, "score", str(tmp_path / "in.csv"), str(tmp_path / "o.csv")
    )
    assert code == 0, text
    assert not abandoned.exists()
    assert running.exists(), "another run still writing must be left alone"


def test_sigterm_unwinds_like_an_interruption(project: Project) -> None:
    """So that `except BaseException` clean-ups (registry saves, partial outputs) run."""
    assert runner.invoke(build_cli(project), ["models", "--help"]).exit_code == 0
    with pytest.raises(SystemExit) as stopped:
        signal.raise_signal(signal.SIGTERM)
    assert stopped.value.code == 128 + signal.SIGTERM
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class _Interrupted(FeatureReader):
    """The first batch of a real file, then Ctrl-C."""

    def __init__(self, inner: FileReader) -> None:
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
        raise KeyboardInterrupt


def test_an_interrupted_run_leaves_no_output_that_looks_complete(
    tmp_path: Path, model: Model, bundled: Dataset
) -> None:
    pq.write_table(feature_table(bundled, 500), tmp_path / "in.parquet")
    output = tmp_path / "out"
    output.mkdir()
    (output / "scores.csv").write_text("the previous complete run\n")
    reader = FileReader(
        str(tmp_path / "in.parquet"),
        numeric_columns=list(model.metadata.feature_names),
        text_columns=["id"],
        batch_rows=100,
        csv_block_bytes=1 << 20,
    )
    with (
        pytest.raises(KeyboardInterrupt),
        FileWriter(str(output / "scores.csv"), result_schema(model, "id")) as results,
        FileWriter(str(output / "bad.csv"), result_schema(model, "id")) as refused,
    ):
        score(model, _Interrupted(reader), results, refused, key_column="id")
    assert sorted(p.name for p in output.iterdir()) == ["scores.csv"]
    assert (output / "scores.csv").read_text() == "the previous complete run\n"


def test_urls_of_fsspec_filesystems_are_read_and_written(model: Model, bundled: Dataset) -> None:
    memory = fsspec.filesystem("memory")
    with memory.open("/scoring/in.parquet", "wb") as sink:
        pq.write_table(feature_table(bundled, 40), sink)
    reader = FileReader(
        "memory://scoring/in.parquet",
        numeric_columns=list(model.metadata.feature_names),
        text_columns=["id"],
        batch_rows=16,
        csv_block_bytes=1 << 20,
    )
    with (
        FileWriter("memory://scoring/out.csv", result_schema(model, "id")) as results,
        FileWriter("memory://scoring/bad.csv", result_schema(model, "id")) as refused,
    ):
        summary = score(model, reader, results, refused, key_column="id")
    assert (summary.rows, summary.scored, summary.quarantined) == (40, 40, 0)
    with memory.open("/scoring/out.csv", "rb") as written:
        assert pa_csv.read_csv(written).num_rows == 40
    assert sorted(memory.ls("/scoring", detail=False)) == [
        "/scoring/bad.csv",
        "/scoring/in.parquet",
        "/scoring/out.csv",
    ]


@pytest.mark.parametrize(
    ("output", "quarantine"),
    [
        ("out/scores.csv", "out/scores.quarantine.csv"),
        ("s3://bucket/run/scores.parquet", "s3://bucket/run/scores.quarantine.parquet"),
        ("scores", "scores.quarantine"),
    ],
)
def test_the_quarantine_lies_beside_the_output(output: str, quarantine: str) -> None:
    assert quarantine_location(output) == quarantine


def test_progress_shows_rows_and_rate_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(progress, "progress_is_shown", lambda: True)
    monkeypatch.setattr(
        progress, "Console", lambda **_: Console(file=screen, force_terminal=True, width=120)
    )
    with progress.rows_progress("scoring", total=None) as advance:
        advance(1500)
        time.sleep(0.05)
        advance(1500)
    assert "3,000 rows" in screen.getvalue()
    assert "rows/s" in screen.getvalue()


def test_progress_is_quiet_under_ci(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CI", "true")
    with progress.rows_progress("scoring", total=10) as advance:
        advance(10)
    assert capsys.readouterr().err == ""


def _numbered(
    count: int, *, closed: list[bool], fail_at: int | None = None
) -> Generator[pa.RecordBatch, None, None]:
    try:
        for index in range(count):
            if index == fail_at:
                raise pa.ArrowInvalid(f"conversion error at batch {index}")
            yield pa.RecordBatch.from_pydict({"n": [index]})
    finally:
        closed.append(True)


def test_read_ahead_yields_every_batch_in_order() -> None:
    closed: list[bool] = []
    numbers = [batch["n"][0].as_py() for batch in read_ahead(_numbered(7, closed=closed))]
    assert numbers == list(range(7))
    assert closed == [True]


def test_read_ahead_raises_an_error_where_it_happened() -> None:
    closed: list[bool] = []
    seen: list[int] = []

    def consume() -> None:
        for batch in read_ahead(_numbered(7, closed=closed, fail_at=3)):
            seen.append(batch["n"][0].as_py())

    with pytest.raises(pa.ArrowInvalid, match="batch 3"):
        consume()
    assert seen == [0, 1, 2]
    assert closed == [True]


def test_read_ahead_stops_reading_when_the_consumer_stops() -> None:
    closed: list[bool] = []
    batches = read_ahead(_numbered(1000, closed=closed), depth=1)
    assert next(batches)["n"][0].as_py() == 0
    batches.close()
    assert closed == [True]
