"""Serving benchmark: this project's service against the usual Flask + pandas service.

Both serve the same registry version from their own processes; a load generator in a third
process (wrk when installed, else a Python one) drives each in turn with the same requests.
Run with ``uv run nox -s bench`` (``-- --help`` for options). Prints a Markdown table.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path

import setups
from setups import add_model_options, project_for

from data_product_runtime.jobs.training import train

from {{ cookiecutter.package_name }}.project import PROJECT

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{url}: the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310  (loopback)
                return
        except OSError:
            time.sleep(0.25)
    sys.exit(f"{url}: not up after {seconds} s")


def post(url: str, body: bytes) -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310  (loopback)
        url, data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        result: dict[str, object] = json.loads(response.read())
        return result


def load_with_wrk(url: str, body: bytes, args: argparse.Namespace) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(body.decode())}\n"
        )
    command = [
        "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
        "--latency", "-s", script.name, url,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    Path(script.name).unlink()

    def latency(percentile: str) -> float:
        match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if match is None:
            sys.exit(f"unexpected wrk output:\n{output}")
        value, unit = float(match[1]), match[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx[1]) if non_2xx else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return Result(float(rate[1]) if rate else 0.0, latency("50"), latency("99"), errors)


def load_with_python(url: str, body: bytes, args: argparse.Namespace) -> Result:
    """Keep-alive connections in threads: weaker than wrk, but needs nothing installed."""
    host, port_path = url.removeprefix("http://").split(":", 1)
    port, path = port_path.split("/", 1)
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + args.duration
    lock = threading.Lock()

    def worker() -> None:
        nonlocal errors
        connection = HTTPConnection(host, int(port), timeout=10)
        mine: list[float] = []
        failed = 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            connection.request("POST", "/" + path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            failed += response.status != 200  # noqa: PLR2004
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=worker) for _ in range(args.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cut = statistics.quantiles(latencies, n=100)
    return Result(len(latencies) / args.duration, cut[49] * 1000, cut[98] * 1000, errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=20, help="seconds per load run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--batch-size", type=int, default=100, help="records per batch request")
    parser.add_argument("--runs", type=int, default=1, help="alternating runs of each")
    parser.add_argument("--workers", type=int, default=2, help="processes of each service")
    add_model_options(parser)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    project, overrides = project_for(args.family, args.table)
    version = train(project, project.settings(model_dir=folder / "models", **overrides)).version
    records = setups.records(project, overrides, args.batch_size)
    single, batch = (
        json.dumps({"features": records[0]}).encode(),
        json.dumps({"records": records}).encode(),
    )
    trusted = json.dumps(list(overrides.get("trusted_types", ())))

    ours, reference = free_port(), free_port()
    environment = {
        **os.environ,
        f"{PROJECT.env_prefix}MODEL_DIR": str(folder / "models"),
        f"{PROJECT.env_prefix}PREDICTION_LOG": str(folder / "predictions.jsonl"),
        f"{PROJECT.env_prefix}LOG_LEVEL": "warning",
        f"{PROJECT.env_prefix}MAX_BODY_BYTES": "10000000",
        f"{PROJECT.env_prefix}TRUSTED_TYPES": trusted,
        "REFERENCE_MODEL_DIR": str(folder / "models"),
        "REFERENCE_MODEL_VERSION": version,
        "REFERENCE_TRUSTED_TYPES": trusted,
        # One thread per worker on both sides: OpenMP pools in every worker oversubscribe the
        # cores (the service sets this itself; the reference is given it, for a fair match).
        "OMP_NUM_THREADS": "1",
    }
    servers = {
        "this service": subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", PROJECT.reference.partition(".")[0], "serve", "--port", str(ours), "--workers", str(args.workers)],
            env=environment, stdout=subprocess.DEVNULL,
        ),
        "Flask + gunicorn + pandas": subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "-w", str(args.workers), "-b", f"127.0.0.1:{reference}",
             "--chdir", str(HERE), "--log-level", "warning", "reference_service:app"],
            env=environment,
        ),
    }  # fmt: skip
    bases = {
        "this service": f"http://127.0.0.1:{ours}",
        "Flask + gunicorn + pandas": f"http://127.0.0.1:{reference}",
    }
    try:
        wait_until_up(f"{bases['this service']}/health", servers["this service"])
        for name, base in bases.items():
            deadline = time.monotonic() + 120
            while True:
                try:
                    post(f"{base}/predict", single)
                    break
                except OSError:
                    if time.monotonic() > deadline or servers[name].poll() is not None:
                        sys.exit(f"{name} did not come up")
                    time.sleep(0.25)
        answers = {name: post(f"{base}/predict", single) for name, base in bases.items()}
        ours_answer, reference_answer = answers.values()
        if ours_answer["prediction"] != reference_answer["prediction"]:
            sys.exit(f"the two services disagree: {answers}")
        generator = load_with_wrk if shutil.which("wrk") else load_with_python
        print(
            f"load generator: {'wrk' if generator is load_with_wrk else 'Python threads (install wrk for better figures)'}"
        )
        results: dict[tuple[str, str], list[Result]] = {}
        for _ in range(args.runs):
            for endpoint, body in (("/predict", single), ("/predict/batch", batch)):
                for name, base in bases.items():
                    results.setdefault((name, endpoint), []).append(
                        generator(base + endpoint, body, args)
                    )
        report(results, args.batch_size)
    finally:
        for process in servers.values():
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def report(results: dict[tuple[str, str], list[Result]], batch_size: int) -> None:
    print("| implementation | endpoint | requests/s | rows/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    medians: dict[tuple[str, str], float] = {}
    for (name, endpoint), runs in results.items():
        rows = batch_size if endpoint.endswith("batch") else 1
        rate = statistics.median(r.requests_per_second for r in runs)
        medians[name, endpoint] = rate * rows
        print(
            f"| {name} | {endpoint} | {rate:,.0f} | {rate * rows:,.0f} "
            f"| {statistics.median(r.p50_ms for r in runs):.1f} | {statistics.median(r.p99_ms for r in runs):.1f} "
            f"| {sum(r.errors for r in runs)} |"
        )
    for endpoint in ("/predict", "/predict/batch"):
        ratio = medians["this service", endpoint] / max(
            medians["Flask + gunicorn + pandas", endpoint], 1e-9
        )
        print(f"\n{endpoint}: this service is {ratio:.1f}x the reference (rows/s, median of runs)")


if __name__ == "__main__":
    main()
