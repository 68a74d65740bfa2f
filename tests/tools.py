"""External tools for the full tier: found on PATH, and the podman sandbox to run images with.

Every tool is installed by `.ci/install-tools.sh`; a missing one fails the test that needs it
(a skipped proof would read as a passed one).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from answers import PROJECT_TEMPLATE, TEMPLATE_ROOT, defaults

INSTALL_HINT = "run .ci/install-tools.sh (as root) to install the full tier's tools"
# CI lays a copy of shared/ beside the fresh clone, as on a developer's machine.
SANDBOX_SCRIPT = TEMPLATE_ROOT.parent / "shared" / "tools" / "container-sandbox.sh"
DOCKERFILE_SOURCE = (
    TEMPLATE_ROOT / PROJECT_TEMPLATE / "{% if cookiecutter.docker %}Dockerfile{% endif %}"
)


def tool(name: str) -> str:
    """The absolute path of an executable on PATH; fails the test if it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: {INSTALL_HINT}")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class ContainerEngine:
    """Rootful podman configured by the sandbox script, with its stand-in base images."""

    env: dict[str, str]
    python_image: str
    uv_image: str

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [tool("podman"), *args], env=self.env, capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"`podman {' '.join(args)}` exited with {result.returncode}\n"
                f"--- stdout ---\n{result.stdout[-20000:]}\n--- stderr ---\n{result.stderr[-20000:]}"
            )
        return result

    def remove(self, *, containers: tuple[str, ...] = (), images: tuple[str, ...] = ()) -> None:
        """Best-effort cleanup of what a test created (it may not exist if the test failed)."""
        for container in containers:
            self.podman("rm", "--force", "--ignore", container, check=False)
        for image in images:
            self.podman("rmi", "--force", image, check=False)
        # A multi-stage build leaves its builder stage behind as a dangling image (gigabytes).
        self.podman("image", "prune", "--force", check=False)


def container_engine(python_version: str, uv_version: str) -> ContainerEngine:
    """Run the sandbox script (idempotent) and return the engine it prints the settings of.

    The script builds, once, stand-ins for the images no registry can serve here:
    docker.io/library/python:<version>-slim from Debian's archive, and
    ghcr.io/astral-sh/uv:<version> from the uv wheel on the package index.
    """
    tool("podman")
    if not SANDBOX_SCRIPT.is_file():
        pytest.fail(f"{SANDBOX_SCRIPT} is missing: the repository needs ../shared beside it")
    result = subprocess.run(
        [tool("bash"), str(SANDBOX_SCRIPT), "--python", python_version, "--uv", uv_version],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"the container sandbox could not be prepared:\n{result.stderr[-20000:]}")
    env = dict(os.environ)
    for line in result.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    return ContainerEngine(
        env=env,
        python_image=f"docker.io/library/python:{python_version}-slim",
        uv_image=f"ghcr.io/astral-sh/uv:{uv_version}",
    )


def dockerfile_uv_version() -> str:
    """The uv image the Dockerfile copies uv from, which the sandbox builds a stand-in of."""
    match = re.search(
        r"^ARG UV_IMAGE=ghcr\.io/astral-sh/uv:(\S+)$", DOCKERFILE_SOURCE.read_text(), re.M
    )
    assert match, "the Dockerfile must name its uv image in `ARG UV_IMAGE=...`"
    return match.group(1)


def project_container_engine() -> ContainerEngine:
    """The sandbox with the base images a default project's Dockerfile names."""
    return container_engine(defaults()["python_version"], dockerfile_uv_version())


@dataclass(frozen=True)
class RunningImage:
    image: str
    container: str
    url: str


@contextmanager
def running_image(
    engine: ContainerEngine, project: Path, *build_args: str
) -> Iterator[RunningImage]:
    """The project's image, built from its Dockerfile, started and healthy; removed after."""
    image = f"localhost/proof-{uuid.uuid4().hex[:12]}:test"
    container = f"proof-{uuid.uuid4().hex[:12]}"
    try:
        start = time.monotonic()
        engine.podman(
            "build", "--pull=never", "--format=docker",  # docker format keeps HEALTHCHECK
            f"--build-arg=PYTHON_IMAGE={engine.python_image}",
            f"--build-arg=UV_IMAGE={engine.uv_image}",
            *(f"--build-arg={argument}" for argument in build_args),
            f"--tag={image}", str(project),
        )  # fmt: skip
        size = int(engine.podman("image", "inspect", "--format={{.Size}}", image).stdout)
        print(f"\n[image] built in {time.monotonic() - start:.1f} s, size {size / 1e6:.0f} MB")
        port = free_port()
        engine.podman("run", "--detach", f"--name={container}",
                      f"--publish=127.0.0.1:{port}:8000", image)  # fmt: skip
        start = time.monotonic()
        while engine.podman("healthcheck", "run", container, check=False).returncode != 0:
            if time.monotonic() - start > 90:
                logs = engine.podman("logs", container, check=False)
                pytest.fail(f"never healthy:\n{logs.stdout}\n{logs.stderr}")
            time.sleep(1)
        health = engine.podman("inspect", "--format={{.State.Health.Status}}", container)
        assert health.stdout.strip() == "healthy"
        print(f"[image] container healthy {time.monotonic() - start:.1f} s after start")
        yield RunningImage(image=image, container=container, url=f"http://127.0.0.1:{port}")
    finally:
        engine.remove(containers=(container,), images=(image,))


@contextmanager
def docker_api(engine: ContainerEngine, socket_dir: Path) -> Iterator[dict[str, str]]:
    """podman's Docker-compatible API on a private socket: the environment for `docker`."""
    sock = socket_dir / "podman.sock"
    service = subprocess.Popen(
        [tool("podman"), "system", "service", "--time=0", f"unix://{sock}"],
        env=engine.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            if service.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"podman system service did not start:\n{service.communicate()[1]}")
            time.sleep(0.1)
        yield {**engine.env, "DOCKER_HOST": f"unix://{sock}"}
    finally:
        service.terminate()
        service.communicate(timeout=30)


@contextmanager
def health_checks_scheduled(engine: ContainerEngine, container: str) -> Iterator[None]:
    """Run the HEALTHCHECK of `container` every 2 s, as Docker's engine does by itself.

    podman schedules health checks with systemd timers, and these machines run no systemd,
    so without this the status of a container started by a CI job would stay `starting`.
    The check run is the image's own HEALTHCHECK command (`podman healthcheck run`).
    """
    podman = tool("podman")
    stop = threading.Event()

    def schedule() -> None:
        while not stop.wait(2):
            subprocess.run(
                [podman, "healthcheck", "run", container],
                env=engine.env,
                capture_output=True,
                check=False,
            )

    scheduler = threading.Thread(target=schedule, daemon=True)
    scheduler.start()
    try:
        yield
    finally:
        stop.set()
        scheduler.join(timeout=30)
