#!/usr/bin/env bash
# Installs moto's S3-compatible server, pinned, into DIR/venv (DIR/venv/bin/moto_server) for
# crates/cli/tests/s3.rs. Idempotent; the test calls it under a file lock, .ci/run before the tests.
set -euo pipefail
version=5.2.5
dir=${1:?usage: moto-setup.sh DIR}
stamp="$dir/venv/.moto-$version"
[ -f "$stamp" ] && exit 0
python3 -m venv "$dir/venv"
"$dir/venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$version"
"$dir/venv/bin/moto_server" --help >/dev/null
touch "$stamp"
