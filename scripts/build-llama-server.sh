#!/usr/bin/env bash
# Build llama.cpp's native `llama-server` (MIT) once per machine and put it in .venv/bin.
#
# Source: the llama.cpp tree vendored in llama-cpp-python's PyPI sdist (only PyPI is reachable here; the
# Python binding itself is not installed or used). Only the `llama-server` CMake target is built, statically
# (no .so files to find at run time), without curl/openssl (it only serves a local GGUF file), for this
# CPU (-march=native: AVX-512 and VNNI make prompt processing several times faster than a generic AVX2
# build). The binary is cached under ${XDG_CACHE_HOME:-~/.cache}/mokg/llama-server/<key>/, the key naming the
# CPU's flags too, so a re-run or a new .venv on the same machine copies it in seconds and another CPU
# builds its own.
#
# Jobs: MOKG_BUILD_JOBS (default 2) bounds the compile; the build runs under `nice`.
set -euo pipefail
cd "$(dirname "$0")/.."

SDIST_VERSION=0.3.36 # llama-cpp-python sdist that vendors the llama.cpp tree we build
JOBS=${MOKG_BUILD_JOBS:-2}
CMAKE_FLAGS=(
  -DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF
  -DGGML_NATIVE=ON
  -DLLAMA_CURL=OFF
  -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_UI=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF
)
CPU_FLAGS=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m)
KEY="llama-cpp-python-${SDIST_VERSION}-$(printf '%s\n' "${CMAKE_FLAGS[@]}" "$CPU_FLAGS" | sha256sum | cut -c1-12)"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/mokg/llama-server/$KEY"
TARGET=.venv/bin/llama-server

works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

if [ -f .venv/llama-server.key ] && [ "$(cat .venv/llama-server.key)" = "$KEY" ] && works "$TARGET"; then
  exit 0
fi

if ! works "$CACHE_DIR/llama-server"; then
  if ! command -v cmake >/dev/null || ! command -v c++ >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake g++ ninja-build >/dev/null
    else
      echo "build-llama-server: cmake and a C++ compiler are needed: sudo apt-get install cmake g++ ninja-build" >&2
      exit 1
    fi
  fi
  GENERATOR=()
  command -v ninja >/dev/null && GENERATOR=(-G Ninja)
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/mokg-llama-build.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  echo "build-llama-server: building llama-server from llama-cpp-python==$SDIST_VERSION's vendored llama.cpp" \
    "($JOBS jobs; about 10 minutes on 2 cores, once per machine)"
  start=$(date +%s)
  .venv/bin/python -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$SDIST_VERSION" -d "$WORK"
  tar -xzf "$WORK/llama_cpp_python-$SDIST_VERSION.tar.gz" -C "$WORK" \
    --wildcards "llama_cpp_python-$SDIST_VERSION/vendor/llama.cpp/*"
  SRC="$WORK/llama_cpp_python-$SDIST_VERSION/vendor/llama.cpp"
  nice -n 10 cmake -S "$SRC" -B "$WORK/build" "${GENERATOR[@]}" "${CMAKE_FLAGS[@]}" >"$WORK/configure.log" 2>&1 || {
    tail -30 "$WORK/configure.log" >&2
    exit 1
  }
  CMAKE_BUILD_PARALLEL_LEVEL=$JOBS nice -n 10 cmake --build "$WORK/build" --target llama-server -j "$JOBS" \
    >"$WORK/build.log" 2>&1 || {
    tail -40 "$WORK/build.log" >&2
    exit 1
  }
  mkdir -p "$CACHE_DIR"
  install -m 0755 "$WORK/build/bin/llama-server" "$CACHE_DIR/llama-server.tmp"
  install -m 0644 "$SRC/LICENSE" "$CACHE_DIR/LICENSE"
  mv -f "$CACHE_DIR/llama-server.tmp" "$CACHE_DIR/llama-server"
  echo "build-llama-server: built in $(($(date +%s) - start)) s, cached in $CACHE_DIR"
fi

install -m 0755 "$CACHE_DIR/llama-server" "$TARGET.tmp"
mv -f "$TARGET.tmp" "$TARGET"
echo "$KEY" >.venv/llama-server.key
works "$TARGET" || {
  echo "build-llama-server: $TARGET does not run" >&2
  exit 1
}
