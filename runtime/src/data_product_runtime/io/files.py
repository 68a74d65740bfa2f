"""CSV and Parquet files as a feature source and a result sink, streamed batch by batch.

Locations are local paths or URLs: ``file://``, the schemes pyarrow reads natively (``s3://``,
``gs://``, ``hdfs://``) and any other fsspec scheme once its fsspec package is installed.
"""

import contextlib
import csv
import io
import json
import os
import queue
import socket
import threading
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

if TYPE_CHECKING:
    import pyarrow.dataset as ds

from data_product_runtime.core.scoring import PROBLEM_COLUMN
from data_product_runtime.io.adapters import FeatureReader, ResultWriter
from data_product_runtime.io.datasets import DataError
from data_product_runtime.io.faults import abandoned, os_error_line

CSV = "csv"
PARQUET = "parquet"
_FORMATS = {".csv": CSV, ".parquet": PARQUET, ".pq": PARQUET}


def resolve(location: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem a location lives on and the path inside it."""
    if "://" not in location:
        return pafs.LocalFileSystem(), str(Path(location).absolute())
    try:
        filesystem, path = pafs.FileSystem.from_uri(location)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        try:
            import fsspec  # noqa: PLC0415  (optional: only URLs of other schemes need it)
        except ImportError:
            msg = f"{location}: unknown URL scheme; install fsspec and its package for it"
            raise DataError(msg) from None
        try:
            spec_filesystem, path = fsspec.core.url_to_fs(location)
        except (ImportError, ValueError) as error:
            raise DataError(f"{location}: {error}") from None
        return pafs.PyFileSystem(pafs.FSSpecHandler(spec_filesystem)), path
    return filesystem, path


def check_distinct(**locations: str) -> None:
    """Refuse two roles (input, output, quarantine) naming one file: a write would destroy it."""
    seen: dict[tuple[str, str], str] = {}
    for role, location in locations.items():
        filesystem, path = resolve(location)
        if isinstance(filesystem, pafs.LocalFileSystem):
            path = str(Path(path).resolve())  # through symbolic links and ".."
        key = (filesystem.type_name, path)
        if key in seen:
            msg = (
                f"{seen[key]} and {role} are the same file ({location}): writing the {role}"
                f" would destroy the {seen[key]}; choose another {role}"
            )
            raise DataError(msg)
        seen[key] = role


def file_format(location: str, filesystem: pafs.FileSystem, path: str) -> str:
    """CSV or Parquet, from the suffix; a folder is a Parquet dataset (as Spark writes them)."""
    suffix = Path(path).suffix.lower()
    if suffix in _FORMATS:
        return _FORMATS[suffix]
    if filesystem.get_file_info(path).type == pafs.FileType.Directory:
        return PARQUET
    raise DataError(f"{location}: unsupported file type '{suffix}'; use .csv or .parquet")


_END = object()


def read_ahead(
    batches: Generator[pa.RecordBatch, None, None], depth: int = 2
) -> Generator[pa.RecordBatch, None, None]:
    """The same batches, the next ``depth`` decoded in a thread while the caller works on the
    current one (Arrow decodes without the GIL). An error is raised where it happened."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def hand_over(item: object) -> bool:
        while not stopped.is_set():
            try:
                ready.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not hand_over(batch):
                    return
            hand_over(_END)
        except BaseException as error:  # handed to the consumer, raised there
            hand_over(error)
        finally:
            batches.close()

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stopped.set()
        producer.join()


class FileReader(FeatureReader):
    """Rows of a CSV file, a Parquet file or a folder of Parquet files, batch by batch.

    CSV columns are read with the types the scorer wants (features as numbers, the key as
    text), which is fast. A value that is not a number stops that fast path: the rest of the
    file is then read as text from the same row on, and each bad value is reported by the
    scorer instead of failing the whole file. A row Arrow cannot parse (the wrong number of
    fields) stops that one too: the rest is then read by Python's csv module, and each such
    row is handed to the scorer as a problem naming its line, so it is quarantined and every
    row keeps its number.
    """

    def __init__(
        self,
        location: str,
        *,
        numeric_columns: list[str],
        text_columns: list[str],
        batch_rows: int,
        csv_block_bytes: int,
    ) -> None:
        self._location = location
        self._filesystem, self._path = resolve(location)
        info = self._filesystem.get_file_info(self._path)
        if info.type == pafs.FileType.NotFound:
            raise DataError(f"{location}: no such file")
        self._format = file_format(location, self._filesystem, self._path)
        self._numeric = numeric_columns
        self._text = text_columns
        self._batch_rows = batch_rows
        self._block_bytes = csv_block_bytes
        self._names, self._rows = self._inspect()

    @property
    def location(self) -> str:
        return self._location

    @property
    def column_names(self) -> list[str]:
        return list(self._names)

    @property
    def total_rows(self) -> int | None:
        return self._rows

    def _inspect(self) -> tuple[list[str], int | None]:
        try:
            if self._format == PARQUET:
                if self._filesystem.get_file_info(self._path).type == pafs.FileType.File:
                    with self._filesystem.open_input_file(self._path) as source:
                        metadata = pq.ParquetFile(source).metadata
                        return list(metadata.schema.to_arrow_schema().names), metadata.num_rows
                dataset = self._dataset()
                return list(dataset.schema.names), dataset.count_rows()
            with self._filesystem.open_input_stream(self._path) as stream:
                return list(pa_csv.open_csv(stream, self._read_options(0)).schema.names), None
        except pa.ArrowInvalid as error:
            if self._format == CSV and "CSV parse error" in str(error):
                return self._header(), None  # the rows are read by the careful reader
            raise DataError(f"{self._location}: unreadable {self._format} file: {error}") from None
        except OSError as error:
            raise DataError(f"{self._location}: unreadable {self._format} file: {error}") from None

    def _dataset(self) -> "ds.Dataset":
        import pyarrow.dataset as ds  # noqa: PLC0415  (a large import: folders of files only)

        return ds.dataset(self._path, format="parquet", filesystem=self._filesystem)

    def _read_options(self, skip_rows: int) -> pa_csv.ReadOptions:
        return pa_csv.ReadOptions(block_size=self._block_bytes, skip_rows_after_names=skip_rows)

    def batches(self) -> Generator[pa.RecordBatch, None, None]:
        columns = [name for name in [*self._numeric, *self._text] if name in self._names]
        if self._format == PARQUET:
            try:
                yield from read_ahead(self._parquet_batches(columns))
            except (pa.ArrowInvalid, OSError) as error:
                raise DataError(f"{self._location}: unreadable parquet file: {error}") from None
            return
        done = 0
        for as_text in (False, True):
            try:
                for batch in read_ahead(self._csv_batches(columns, done, as_text=as_text)):
                    done += batch.num_rows
                    yield batch
                return
            except pa.ArrowInvalid as error:
                if as_text or "conversion error" not in str(error):
                    break  # a row Arrow cannot parse
        yield from self._careful_batches(columns, done)

    def _header(self) -> list[str]:
        with self._filesystem.open_input_stream(self._path) as stream:
            return next(csv.reader(_text(stream)), [])

    def _careful_batches(
        self, columns: list[str], skip: int
    ) -> Generator[pa.RecordBatch, None, None]:
        """The rows after the first ``skip``, as text, parsed by Python's csv module (slow, used
        only for files Arrow cannot parse): a row with the wrong number of fields becomes a
        row without values whose problem names its line and holds its fields."""
        nulls = set(pa_csv.ConvertOptions().null_values)  # what Arrow's reader reads as missing
        with self._filesystem.open_input_stream(self._path) as stream:
            records = csv.reader(_text(stream))
            try:
                header = next(records, [])
                positions = [header.index(name) for name in columns]
                values: list[list[str | None]] = [[] for _ in columns]
                problems: list[str | None] = []
                for record in records:
                    if not record:
                        continue  # an empty line, as Arrow skips them
                    if skip:
                        skip -= 1
                        continue
                    if len(record) == len(header):
                        problems.append(None)
                        for column, position in zip(values, positions, strict=True):
                            column.append(None if record[position] in nulls else record[position])
                    else:
                        problems.append(
                            f"line {records.line_num}: {len(record)} fields where the header has"
                            f" {len(header)}: {json.dumps(record)}"
                        )
                        for column in values:
                            column.append(None)
                    if len(problems) == self._batch_rows:
                        yield self._text_batch(columns, values, problems)
                        values, problems = [[] for _ in columns], []
            except (csv.Error, UnicodeDecodeError) as error:
                # Undecodable bytes fail before their line is counted; a csv error after.
                line = records.line_num + isinstance(error, UnicodeDecodeError)
                msg = f"{self._location}, line {line}: malformed CSV: {error}"
                raise DataError(msg) from None
        if problems:
            yield self._text_batch(columns, values, problems)

    @staticmethod
    def _text_batch(
        columns: list[str], values: list[list[str | None]], problems: list[str | None]
    ) -> pa.RecordBatch:
        arrays = [pa.array(column, type=pa.string()) for column in values]
        arrays.append(pa.array(problems, type=pa.string()))
        return pa.RecordBatch.from_arrays(arrays, names=[*columns, PROBLEM_COLUMN])

    def _parquet_batches(self, columns: list[str]) -> Generator[pa.RecordBatch, None, None]:
        """A file one row group at a time; a folder of files through a bounded dataset scan."""
        if self._filesystem.get_file_info(self._path).type == pafs.FileType.File:
            with self._filesystem.open_input_file(self._path) as source:
                # Without pre-buffering, only the row group being decoded is held in memory.
                parquet = pq.ParquetFile(source, pre_buffer=False, buffer_size=1 << 16)
                yield from parquet.iter_batches(batch_size=self._batch_rows, columns=columns)
            return
        yield from (
            self._dataset()
            .scanner(
                columns=columns,
                batch_size=self._batch_rows,
                batch_readahead=2,
                fragment_readahead=1,
            )
            .to_batches()
        )

    def _csv_batches(
        self, columns: list[str], skip: int, *, as_text: bool
    ) -> Generator[pa.RecordBatch, None, None]:
        types = dict.fromkeys(self._text, pa.string())
        types.update(dict.fromkeys(self._numeric, pa.string() if as_text else pa.float64()))
        options = pa_csv.ConvertOptions(
            include_columns=columns, column_types=types, strings_can_be_null=True
        )
        with self._filesystem.open_input_stream(self._path) as stream:
            reader = pa_csv.open_csv(stream, self._read_options(skip), convert_options=options)
            yield from reader


def _text(stream: pa.NativeFile) -> Iterator[str]:
    """A binary stream as the lines the csv module reads, line endings kept; each decoded on
    its own, so that bytes that are not UTF-8 fail on their line and no earlier."""
    for line in io.BufferedReader(stream):  # a NativeFile is a raw stream
        yield line.decode("utf-8")


def _partial_prefix(name: str) -> str:
    """Where the results are written until complete: beside the output, hidden, with the pid."""
    return f".{name}.{socket.gethostname()}-"


class FileWriter(ResultWriter):
    """Rows into a CSV or Parquet file, written aside and moved into place on commit."""

    def __init__(self, location: str, schema: pa.Schema) -> None:
        self._location = location
        self._filesystem, self._path = resolve(location)
        self._format = file_format(location, self._filesystem, self._path)
        parent, _, name = self._path.rpartition("/")
        self._partial = f"{parent}/{_partial_prefix(name)}{os.getpid()}.{uuid.uuid4().hex}.partial"
        try:
            if parent:
                self._filesystem.create_dir(parent, recursive=True)
                self._remove_abandoned(parent, name)
            self._sink = self._filesystem.open_output_stream(self._partial)
        except OSError as error:
            raise DataError(f"{location}: cannot write there: {error}") from None
        self._writer: pa_csv.CSVWriter | pq.ParquetWriter
        try:  # a CSV writer writes its header at once
            if self._format == CSV:
                self._writer = pa_csv.CSVWriter(self._sink, schema)
            else:
                self._writer = pq.ParquetWriter(self._sink, schema)
        except OSError as error:
            with contextlib.suppress(OSError):  # cleaning up after the failure
                self._sink.close()
                self._filesystem.delete_file(self._partial)
            raise DataError(f"{location}: {os_error_line(error)}") from None
        self._open = True

    @property
    def location(self) -> str:
        return self._location

    def _remove_abandoned(self, parent: str, name: str) -> None:
        """Partial files of this output left by killed runs on this machine: deleted."""
        prefix = _partial_prefix(name)
        listing = self._filesystem.get_file_info(pafs.FileSelector(parent))
        for info in listing:
            if not info.base_name.startswith(prefix) or not info.base_name.endswith(".partial"):
                continue
            if abandoned(info.base_name.removeprefix(prefix).split(".")[0]):
                with contextlib.suppress(OSError):
                    self._filesystem.delete_file(info.path)

    def write(self, batch: pa.RecordBatch) -> None:
        try:
            self._writer.write_batch(batch)
        except OSError as error:
            raise DataError(f"{self._location}: {os_error_line(error)}") from None

    def _close_sink(self) -> None:
        if self._open:
            self._open = False
            self._writer.close()
            self._sink.close()

    def commit(self) -> None:
        try:
            self._close_sink()
            self._filesystem.move(self._partial, self._path)
        except OSError as error:
            raise DataError(f"{self._location}: {os_error_line(error)}") from None

    def discard(self) -> None:
        if not self._open:
            return
        with contextlib.suppress(Exception):  # cleaning up after another failure
            self._close_sink()
        with contextlib.suppress(OSError, FileNotFoundError):
            self._filesystem.delete_file(self._partial)
