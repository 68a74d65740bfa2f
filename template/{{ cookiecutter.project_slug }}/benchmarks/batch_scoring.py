"""Batch scoring benchmark: the streaming scorer against the usual pandas approach.

Generates feature tables shaped like the model's input (by default about 1.5 million rows,
about 0.9 GB of CSV for 30 features, and a tenth of that), then scores each of them with

- ``usual``: pandas ``read_csv``/``read_parquet`` of the whole file, ``predict_proba``
  (``predict`` for regression) and ``to_csv``/``to_parquet``;
- ``streaming``: the project's ``score`` command (bounded batches, checks, atomic output),

each in a fresh process, several times, and prints the median wall time, rows/s, peak
resident memory (RSS) of every combination and the speed of streaming relative to usual.
Not part of the tests: run it on a quiet machine. Both approaches start a fresh Python, so
where PYTHONDONTWRITEBYTECODE is set, run `uv sync --compile-bytecode` first: otherwise
each run recompiles the libraries it imports and measures that instead.

    uv run python benchmarks/batch_scoring.py              # full size, 3 runs
    uv run python benchmarks/batch_scoring.py --rows 200000 --runs 1
    uv run python benchmarks/batch_scoring.py --table churn --family lightgbm
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from setups import add_model_options, encoder, project_for

from data_product_runtime.examples import TARGETS, churn_table

from {{ cookiecutter.package_name }}.project import PROJECT

PACKAGE = "{{ cookiecutter.package_name }}"


def ensure_model(model_dir: Path, family: str, table: str) -> list[str]:
    """Train the model into ``model_dir`` unless one is there; its feature names."""
    from data_product_runtime.io.local_registry import LocalModelRegistry
    from data_product_runtime.jobs.training import train

    registry = LocalModelRegistry(model_dir)
    if not registry.versions():
        project, overrides = project_for(family, table)
        train(project, project.settings(model_dir=model_dir, **overrides))
    return list(registry.metadata().feature_names)


def generate_churn(folder: Path, rows: int) -> tuple[Path, Path]:
    """The mixed-type example table (an id, categories, a boolean, a date, gaps) at ``rows`` rows."""
    csv_path, parquet_path = folder / f"churn-{rows}.csv", folder / f"churn-{rows}.parquet"
    if csv_path.exists() and parquet_path.exists():
        return csv_path, parquet_path
    chunk = 100_000
    writers: tuple[pa_csv.CSVWriter, pq.ParquetWriter] | None = None
    try:
        for start in range(0, rows, chunk):
            table = churn_table(PROJECT.problem_type, min(chunk, rows - start), seed=start)
            table = table.drop_columns([TARGETS[PROJECT.problem_type]])
            ids = pa.array([f"C{index:09d}" for index in range(start, start + table.num_rows)])
            table = table.set_column(0, "customer_id", ids)
            if writers is None:
                writers = (
                    pa_csv.CSVWriter(csv_path, table.schema),
                    pq.ParquetWriter(parquet_path, table.schema),
                )
            writers[0].write_table(table)
            writers[1].write_table(table, row_group_size=chunk)
    finally:
        for writer in writers or ():
            writer.close()
    return csv_path, parquet_path


def generate(folder: Path, rows: int, seed: int = 7) -> tuple[Path, Path]:
    """A CSV and a Parquet file of ``rows`` rows: bundled rows plus noise, written in chunks."""
    csv_path, parquet_path = folder / f"features-{rows}.csv", folder / f"features-{rows}.parquet"
    if csv_path.exists() and parquet_path.exists():
        return csv_path, parquet_path
    bundled, _ = PROJECT.dataset(PROJECT.settings())
    spread = bundled.features.std(axis=0)
    generator = np.random.default_rng(seed)
    chunk = 100_000
    schema = pa.schema(
        [("id", pa.int64()), *((name, pa.float64()) for name in bundled.feature_names)]
    )
    with (
        pa_csv.CSVWriter(csv_path, schema) as csv_writer,
        pq.ParquetWriter(parquet_path, schema) as parquet_writer,
    ):
        for start in range(0, rows, chunk):
            size = min(chunk, rows - start)
            picked = bundled.features[generator.integers(0, len(bundled), size)]
            values = picked + generator.normal(0, 0.05, picked.shape) * spread
            columns = [pa.array(np.arange(start, start + size))]
            columns += [pa.array(values[:, i]) for i in range(values.shape[1])]
            table = pa.Table.from_arrays(columns, schema=schema)
            csv_writer.write_table(table)
            parquet_writer.write_table(table, row_group_size=chunk)
    return csv_path, parquet_path


def usual(source: Path, output: Path, model_dir: Path) -> None:
    """The straightforward implementation: everything in memory at once."""
    import pandas as pd

    from data_product_runtime.io.registries import open_registry

    model = open_registry(PROJECT.settings(model_dir=model_dir)).load()
    frame = pd.read_csv(source) if source.suffix == ".csv" else pd.read_parquet(source)
    features = encoder(model.metadata)(frame)
    key = model.metadata.keys[0] if model.metadata.keys else "id"
    result = pd.DataFrame({key: frame[key]})
    if model.metadata.problem_type == "classification":
        probabilities = model.pipeline.predict_proba(features)
        result["prediction"] = model.pipeline.classes_[probabilities.argmax(axis=1)]
        for position, label in enumerate(model.pipeline.classes_):
            result[f"probability_{label}"] = probabilities[:, position]
    else:
        result["prediction"] = model.pipeline.predict(features)
    result["model_version"] = model.version
    if output.suffix == ".csv":
        result.to_csv(output, index=False)
    else:
        result.to_parquet(output, index=False)


# Runs a module or a script and records the peak memory of its own process. On Linux the
# ru_maxrss of a child also counts this process's memory at the time it was started (the
# generated data included); VmHWM counts only the child. Elsewhere ru_maxrss is used.
PEAK_PROBE = """
import atexit, os, runpy, sys
report, kind, target = sys.argv[1:4]
sys.argv = [target, *sys.argv[4:]]


def write_peak():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(report, "w") as out:
        out.write(peak)


atexit.register(write_peak)
if kind == "module":
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    sys.path.insert(0, os.path.dirname(os.path.abspath(target)))  # as `python script` does
    runpy.run_path(target, run_name="__main__")
"""


def measure(kind: str, target: str, arguments: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one fresh process running a module or a script."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".peak") as report:
        probed = Path("/proc/self/status").is_file()
        command = (
            [sys.executable, "-c", PEAK_PROBE, report.name, kind, target, *arguments]
            if probed
            else [sys.executable, *(["-m"] if kind == "module" else []), target, *arguments]
        )
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603  (our own commands)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            msg = f"{' '.join(command)} exited with {process.returncode}"
            raise RuntimeError(msg)
        peak_kilobytes = float(report.read() or 0) if probed else usage.ru_maxrss
    return elapsed, peak_kilobytes / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_500_000, help="rows of the large table")
    parser.add_argument("--small-rows", type=int, default=170_000, help="rows of the small table")
    parser.add_argument("--runs", type=int, default=3, help="runs of each combination")
    parser.add_argument(
        "--folder", type=Path, default=Path(tempfile.gettempdir()) / f"{PACKAGE}-bench"
    )
    add_model_options(parser)
    parser.add_argument(
        "--usual", nargs=3, metavar=("INPUT", "OUTPUT", "MODEL_DIR"), help=argparse.SUPPRESS
    )
    arguments = parser.parse_args()
    if arguments.usual:
        source, output, model_dir = map(Path, arguments.usual)
        usual(source, output, model_dir)
        return

    folder: Path = arguments.folder
    folder.mkdir(parents=True, exist_ok=True)
    model_dir = folder / f"models-{arguments.family}-{arguments.table}"
    features = ensure_model(model_dir, arguments.family, arguments.table)
    print(
        f"{arguments.family} model with {len(features)} features on the {arguments.table} table; data in {folder}"
    )
    trusted = project_for(arguments.family, arguments.table)[1].get("trusted_types", ())
    environment = {
        **os.environ,
        f"{PROJECT.env_prefix}MODEL_DIR": str(model_dir),
        f"{PROJECT.env_prefix}TRUSTED_TYPES": json.dumps(list(trusted)),
    }
    os.environ.update(environment)
    header = f"{'input':<28} {'size':>8} {'approach':<10} {'wall s':>7} {'rows/s':>10} {'peak RSS MB':>12} {'speed':>6}"
    print(header)
    print("-" * len(header))
    for rows in (arguments.small_rows, arguments.rows):
        make = generate if arguments.table == "bundled" else generate_churn
        csv_path, parquet_path = make(folder, rows)
        for source in (csv_path, parquet_path):
            output = folder / f"scores{source.suffix}"
            commands = {
                "usual": ("path", __file__, ["--usual", str(source), str(output), str(model_dir)]),
                "streaming": (
                    "module", PACKAGE,
                    ["score", str(source), str(output), "--model-dir", str(model_dir)],
                ),
            }  # fmt: skip
            walls: dict[str, float] = {}
            for name, (kind, target, options) in commands.items():
                runs = [measure(kind, target, options) for _ in range(arguments.runs)]
                wall = walls[name] = statistics.median(run[0] for run in runs)
                rss = statistics.median(run[1] for run in runs)
                size = f"{source.stat().st_size / 1e9:.2f} GB"
                speed = f"{walls['usual'] / wall:.2f}x"
                print(
                    f"{source.name:<28} {size:>8} {name:<10} {wall:>7.2f} {rows / wall:>10,.0f} {rss:>12,.0f} {speed:>6}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
