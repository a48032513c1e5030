#!/usr/bin/env bash
# Install llama-cpp-python into the given Python environment without ever letting a native
# build into pip's wheel cache (pip's cache ignores CMAKE_ARGS).
#
# llama-cpp-python has no binary wheel for this platform: it compiles (7-11 min on 2 cores).
# Its default build uses -march=native, which dies with SIGILL (AMX) on some CPUs, so we build
# with -DGGML_NATIVE=OFF and keep the wheel in our own cache keyed by version and flags.
set -euo pipefail
PY=${1:?usage: install_llamacpp.sh PYTHON}
VERSION=${LLAMA_CPP_VERSION:-0.3.36}
CMAKE_ARGS=${SLMGRAPH_LLAMA_CMAKE_ARGS:-"-DGGML_NATIVE=OFF"}
KEY=$(printf '%s' "$CMAKE_ARGS" | sha256sum | cut -c1-12)
CACHE=${SLMGRAPH_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/slmgraph/wheels}/llama-cpp-python-$VERSION-$KEY

if "$PY" -c "import llama_cpp, sys; sys.exit(0 if llama_cpp.__version__ == '$VERSION' else 1)" 2>/dev/null \
   && [ -f "$CACHE/.installed-from-cache" ]; then
  echo "llama-cpp-python $VERSION already installed (flags: $CMAKE_ARGS)"
  exit 0
fi
mkdir -p "$CACHE"
if ! ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $VERSION with CMAKE_ARGS='$CMAKE_ARGS' (takes 7-11 minutes on 2 cores) ..."
  start=$(date +%s)
  CMAKE_ARGS="$CMAKE_ARGS" "$PY" -m pip wheel --no-cache-dir --no-deps \
      "llama-cpp-python==$VERSION" -w "$CACHE.tmp"
  mv "$CACHE.tmp"/llama_cpp_python-*.whl "$CACHE"/ && rmdir "$CACHE.tmp"
  echo "Built in $(( $(date +%s) - start )) s; cached in $CACHE"
fi
"$PY" -m pip install --no-cache-dir --only-binary=llama-cpp-python --find-links "$CACHE" \
    "llama-cpp-python[server]==$VERSION"
touch "$CACHE/.installed-from-cache"
