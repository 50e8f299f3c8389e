#!/bin/sh
# Installs this build into a scratch prefix and builds tests/consumer against it twice: with
# pkg-config and with CMake's find_package. Both programs must run. Args: <build dir> <source dir>
# [extra compiler/linker flags, e.g. the build's sanitizer flags].
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
extra=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
meson install -C "$build" --no-rebuild --destdir "$tmp/dest" >/dev/null
# meson installs under <destdir>/<prefix>; find the pkg-config dir wherever libdir ended up.
pcdir=$(dirname "$(find "$tmp/dest" -name weft.pc | head -n 1)")
libdir=$(dirname "$pcdir")
[ -n "$pcdir" ] || { echo "weft.pc was not installed"; exit 1; }

echo "== pkg-config"
flags=$(PKG_CONFIG_SYSROOT_DIR="$tmp/dest" PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs weft)
echo "pkg-config --cflags --libs weft: $flags"
# shellcheck disable=SC2086
c++ -std=c++20 $extra "$src/tests/consumer/consumer.cpp" -o "$tmp/consumer_pc" $flags
LD_LIBRARY_PATH="$libdir" "$tmp/consumer_pc"

echo "== cmake find_package"
cfgdir=$(dirname "$(find "$tmp/dest" -name weftConfig.cmake | head -n 1)")
cmake -S "$src/tests/consumer" -B "$tmp/cmake-build" -Dweft_DIR="$cfgdir" \
  -DCMAKE_CXX_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" >/dev/null
cmake --build "$tmp/cmake-build" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cmake-build/consumer"
