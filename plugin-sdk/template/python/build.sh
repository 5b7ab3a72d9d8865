#!/usr/bin/env bash
# Builds {{crate_name}}.wasm, a WebAssembly component of closebook's `close-step` world, from
# app.py with componentize-py (installed from PyPI at the version closebook is tested with).
set -euo pipefail
cd "$(dirname "$0")"
readonly COMPONENTIZE_PY_VERSION=0.25.1
if [[ "$(componentize-py --version 2>/dev/null | awk '{print $2}')" != "$COMPONENTIZE_PY_VERSION" ]]; then
    python3 -m pip install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION"
fi
componentize-py -d wit -w close-step componentize app -o {{crate_name}}.wasm
echo "built {{crate_name}}.wasm"
