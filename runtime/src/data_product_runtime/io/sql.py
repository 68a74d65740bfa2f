"""SQL tables as a feature source and a result sink, through SQLAlchemy.

Results are upserted on (key, model version): scoring the same rows again with the same model
updates them instead of adding duplicates. Everything a run writes is one transaction, so a
failed run leaves the tables as they were.
"""

from collections.abc import Callable, Generator
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from pyarrow import types as pa_types
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from data_product_runtime.core.scoring import VERSION_COLUMN
from data_product_runtime.io.adapters import FeatureReader, ResultWriter
from data_product_runtime.io.datasets import DataError

# Both dialects' INSERT ... ON CONFLICT DO UPDATE, built the same way.
_UPSERTS: dict[str, Callable[[sa.Table], Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def create_engine(url: str) -> Engine:
    """An engine for the URL; SQLite in WAL mode, so that reading and writing do not block."""
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as error:
        raise DataError(f"database URL {url!r}: {error}") from None
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _wal(connection: Any, _record: Any) -> None:
            connection.execute("PRAGMA journal_mode=WAL")

    return engine


def _reflect(engine: Engine, name: str) -> sa.Table:
    try:
        return sa.Table(name, sa.MetaData(), autoload_with=engine)
    except sa.exc.NoSuchTableError:
        raise DataError(f"{_safe_url(engine)}: no table '{name}'") from None
    except sa.exc.OperationalError as error:
        raise DataError(f"{_safe_url(engine)}: {error.orig}") from None


def _safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


class SqlReader(FeatureReader):
    """Rows of a table, ordered by its key column, fetched a batch at a time (server-side)."""

    def __init__(
        self, engine: Engine, table: str, *, columns: list[str], order_by: str, batch_rows: int
    ) -> None:
        self._engine = engine
        self._table = _reflect(engine, table)
        if order_by not in self._table.columns:
            msg = f"{self.location}: no key column '{order_by}' (columns: {', '.join(self.column_names)})"
            raise DataError(msg)
        self._order_by = order_by
        self._batch_rows = batch_rows
        self._columns = [name for name in dict.fromkeys(columns) if name in self._table.columns]

    @property
    def location(self) -> str:
        return f"{_safe_url(self._engine)} table {self._table.name}"

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self._table.columns]

    @property
    def total_rows(self) -> int:
        with self._engine.connect() as connection:
            count = connection.execute(sa.select(sa.func.count()).select_from(self._table))
            return int(count.scalar_one())

    def batches(self) -> Generator[pa.RecordBatch, None, None]:
        query = sa.select(*(self._table.c[name] for name in self._columns)).order_by(
            self._table.c[self._order_by]
        )
        with (
            self._engine.connect() as connection,
            connection.execution_options(stream_results=True, yield_per=self._batch_rows).execute(
                query
            ) as result,
        ):
            for rows in result.partitions():
                columns = list(zip(*rows, strict=True))
                yield pa.RecordBatch.from_arrays(
                    [_array(values) for values in columns], names=self._columns
                )


def _array(values: tuple[Any, ...]) -> pa.Array:
    """A column as Arrow; a column of mixed types (SQLite allows them) as text, to be checked."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if value is None else str(value) for value in values], pa.string())


def _column_type(data_type: pa.DataType) -> sa.types.TypeEngine[Any]:
    if pa_types.is_string(data_type):
        return sa.String()
    if pa_types.is_integer(data_type):
        return sa.BigInteger()
    if pa_types.is_floating(data_type):
        return sa.Double()
    if pa_types.is_timestamp(data_type):
        return sa.DateTime(timezone=True)
    msg = f"no SQL column type for {data_type}"
    raise TypeError(msg)


class SqlWriter(ResultWriter):
    """Rows upserted into a table (created when missing) keyed on (key, model version).

    Writers of one run share a connection: its one transaction holds all they write (SQLite
    allows a single writer at a time), and the first ``commit`` makes all of it visible.
    """

    def __init__(self, connection: Connection, table: str, schema: pa.Schema, key: str) -> None:
        self._connection = connection
        self._name = table
        if connection.dialect.name not in _UPSERTS:
            msg = f"{self.location}: writing results needs SQLite or PostgreSQL"
            raise DataError(msg)
        self._key = key
        self._schema = schema
        self._table = self._prepare()
        self._statement = self._upsert()

    @property
    def location(self) -> str:
        return f"{_safe_url(self._connection.engine)} table {self._name}"

    def _prepare(self) -> sa.Table:
        table = sa.Table(
            self._name,
            sa.MetaData(),
            *(
                sa.Column(
                    field.name,
                    _column_type(field.type),
                    primary_key=field.name in {self._key, VERSION_COLUMN},
                )
                for field in self._schema
            ),
        )
        try:
            table.create(self._connection, checkfirst=True)
        except sa.exc.DBAPIError as error:
            raise DataError(f"{self.location}: {error.orig}") from None
        columns = sa.inspect(self._connection).get_columns(self._name)
        missing = set(self._schema.names) - {column["name"] for column in columns}
        if missing:
            msg = f"{self.location} exists without the columns {', '.join(sorted(missing))}; write to a new table"
            raise DataError(msg)
        return table

    def _upsert(self) -> Any:
        statement = _UPSERTS[self._connection.dialect.name](self._table)
        updated = {
            name: statement.excluded[name]
            for name in self._schema.names
            if name not in {self._key, VERSION_COLUMN}
        }
        return statement.on_conflict_do_update(
            index_elements=[self._key, VERSION_COLUMN], set_=updated
        )

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        try:
            self._connection.execute(self._statement, batch.to_pylist())
        except sa.exc.DBAPIError as error:
            raise DataError(f"{self.location}: {error.orig}") from None

    def commit(self) -> None:
        if self._connection.in_transaction():
            self._connection.commit()

    def discard(self) -> None:
        if self._connection.in_transaction():
            self._connection.rollback()
