#!/bin/sh
# weft used from scratch projects, as a user would (consumer.cpp beside this script, each time).
#
#   run.sh <build dir> <source dir> <extra flags> installed
#     Installs the build into a scratch DESTDIR, then builds and runs the consumer through
#     pkg-config, CMake find_package and a meson dependency(), each linked shared and static, with
#     g++ and clang++-16 (when installed); checks the compiler errors for too old a language level
#     or compiler, the installed tools, and the installed gdb extension (auto-loaded, release
#     library without debug info: under gdb, attached with gdb -p, and on a core file).
#   run.sh <build dir> <source dir> <extra flags> subproject
#     A meson project with weft as a subproject: only the library is built (no tests, doctest not
#     looked up), both link modes work, and the project's install contains nothing of weft.
#
# <extra flags>: the build's sanitizer flags ('' for none). With them, only g++ consumers are built
# (a clang program cannot use g++'s sanitizer runtimes) and the gdb part is left to the suite's test.
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
extra=${3:-}
what=${4:-installed}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*"; exit 1; }
# run_consumer <label> <executable> <shared|static>: runs it, checks its output and how it links.
run_consumer() {
  # A timeout: a program whose signal handler was taken over waits for its signal forever.
  out=$(timeout 60 "$2") || fail "$1: exited with $? (124: timed out): $out"
  echo "$1: $out"
  case $out in *"consumer: 42, signal 10,"*) ;; *) fail "$1: unexpected output" ;; esac
  if readelf -d "$2" | grep -q 'NEEDED.*libweft'; then linked=shared; else linked=static; fi
  [ "$linked" = "$3" ] || fail "$1: expected a $3 link of weft, got $linked"
}
consumer_project() {  # consumer_project <dir> <meson/cmake project dir>: a scratch copy with consumer.cpp
  mkdir -p "$1"
  find "$2" -maxdepth 1 -type f -exec cp {} "$1"/ \;
  cp "$src/tests/packaging/consumer/consumer.cpp" "$1"/
}

compilers=c++
if [ -z "$extra" ] && command -v clang++-16 >/dev/null 2>&1; then compilers="c++ clang++-16"; fi

if [ "$what" = subproject ]; then
  proj="$tmp/sub"
  consumer_project "$proj" "$src/tests/packaging/consumer/subproject"
  mkdir "$proj/subprojects"
  ln -s "$src" "$proj/subprojects/weft"
  # A debug build: this checks what gets built and installed, and compiles weft ~2x faster than -O2.
  meson setup "$proj/build" "$proj" --buildtype=debug >"$tmp/setup.log" 2>&1 \
    || { cat "$tmp/setup.log"; fail "subproject: meson setup"; }
  grep -qi doctest "$proj/build/meson-logs/meson-log.txt" && fail "subproject: doctest was looked up"
  targets=$(meson introspect --targets "$proj/build" | python3 -c 'import json,sys; print(" ".join(sorted(t["name"] for t in json.load(sys.stdin))))')
  echo "subproject targets: $targets"
  [ "$targets" = "consumer consumer_static weft weft weft_fiber_entry" ] || fail "subproject: builds more than the library"
  ninja -C "$proj/build" >"$tmp/build.log" 2>&1 || { tail -n 40 "$tmp/build.log"; fail "subproject: build"; }
  run_consumer "subproject shared" "$proj/build/consumer" shared
  run_consumer "subproject static" "$proj/build/consumer_static" static
  meson install -C "$proj/build" --no-rebuild --destdir "$tmp/subdest" >/dev/null
  installed=$(cd "$tmp/subdest" && find . -type f -o -type l | sort | tr '\n' ' ')
  echo "installed by the consumer project: $installed"
  case $installed in *weft*) fail "subproject: the consumer's install includes weft" ;; esac
  echo "consumer subproject: ok"
  exit 0
fi

meson install -C "$build" --no-rebuild --destdir "$tmp/dest" >/dev/null
# meson installs under <destdir>/<prefix>; find the pkg-config dir wherever libdir ended up.
pcdir=$(dirname "$(find "$tmp/dest" -name weft.pc | head -n 1)")
[ -n "$pcdir" ] || fail "weft.pc was not installed"
libdir=$(dirname "$pcdir")
cfgdir=$(dirname "$(find "$tmp/dest" -name weftConfig.cmake | head -n 1)")
export PKG_CONFIG_SYSROOT_DIR="$tmp/dest" PKG_CONFIG_PATH="$pcdir"
export LD_LIBRARY_PATH="$libdir"
prefix=$(PKG_CONFIG_SYSROOT_DIR= pkg-config --variable=prefix weft)
cflags=$(pkg-config --cflags weft)
libs=$(pkg-config --libs weft)
static_libs=$(pkg-config --static --libs weft)
echo "pkg-config --cflags: $cflags"
echo "pkg-config --libs: $libs"
echo "pkg-config --static --libs: $static_libs"
case " $cflags " in *" -std="*) fail "weft.pc forces a language level" ;; esac
case "$static_libs" in *"/"*.so*) fail "pkg-config --static names a shared library by path" ;; esac

# Too old a language level or compiler: weft's own message, first (-Wfatal-errors stops there).
echo '#include <weft/weft.hpp>' > "$tmp/old.cpp"
# shellcheck disable=SC2086
if c++ -std=c++17 -fsyntax-only -Wfatal-errors $cflags "$tmp/old.cpp" >"$tmp/old.log" 2>&1 || \
   ! grep -q "weft needs C++20" "$tmp/old.log"; then
  cat "$tmp/old.log"; fail "C++17: no clear error"
fi
if command -v clang++-14 >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  if clang++-14 -std=c++20 -fsyntax-only -Wfatal-errors $cflags "$tmp/old.cpp" >"$tmp/old.log" 2>&1 || \
     ! grep -q "weft needs clang++ 16" "$tmp/old.log"; then
    cat "$tmp/old.log"; fail "clang++ 14: no clear error"
  fi
fi

for cxx in $compilers; do
  echo "== $cxx: pkg-config"
  # Shared, as a C++23 program: the language level must stay the program's own.
  # shellcheck disable=SC2086
  $cxx -std=c++2b $extra "$src/tests/packaging/consumer/consumer.cpp" -o "$tmp/pc_shared" $cflags $libs
  run_consumer "$cxx pkg-config shared" "$tmp/pc_shared" shared
  case $out in *"__cplusplus 2020"*) fail "$cxx: a C++23 program compiled as C++20" ;; esac
  # Static: -Bstatic makes -lweft (and its private libraries) pick the .a files.
  # shellcheck disable=SC2086
  $cxx -std=c++20 $extra "$src/tests/packaging/consumer/consumer.cpp" -o "$tmp/pc_static" $cflags \
    -Wl,-Bstatic $static_libs -Wl,-Bdynamic
  run_consumer "$cxx pkg-config static" "$tmp/pc_static" static

  echo "== $cxx: cmake find_package"
  consumer_project "$tmp/cmake-$cxx" "$src/tests/packaging/consumer"
  cmake -S "$tmp/cmake-$cxx" -B "$tmp/cmake-$cxx/build" -Dweft_DIR="$cfgdir" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_CXX_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" >"$tmp/cmake.log" 2>&1 \
    || { cat "$tmp/cmake.log"; fail "$cxx: cmake configure"; }
  cmake --build "$tmp/cmake-$cxx/build" >"$tmp/cmake.log" 2>&1 || { tail -n 40 "$tmp/cmake.log"; fail "$cxx: cmake build"; }
  run_consumer "$cxx cmake weft::weft" "$tmp/cmake-$cxx/build/consumer" shared
  run_consumer "$cxx cmake weft::weft_static" "$tmp/cmake-$cxx/build/consumer_static" static

  echo "== $cxx: meson dependency()"
  consumer_project "$tmp/meson-$cxx" "$src/tests/packaging/consumer/meson"
  CXX=$cxx CXXFLAGS="$extra" LDFLAGS="$extra" meson setup "$tmp/meson-$cxx/build" "$tmp/meson-$cxx" \
    -Db_lundef=false >"$tmp/meson.log" 2>&1 || { cat "$tmp/meson.log"; fail "$cxx: meson setup"; }
  ninja -C "$tmp/meson-$cxx/build" >"$tmp/meson.log" 2>&1 || { tail -n 40 "$tmp/meson.log"; fail "$cxx: meson build"; }
  run_consumer "$cxx meson shared" "$tmp/meson-$cxx/build/consumer" shared
  run_consumer "$cxx meson static" "$tmp/meson-$cxx/build/consumer_static" static
done

echo "== installed tools"
for t in weft-top weft-trace-summary weft-trace-svg; do
  [ -x "$tmp/dest$prefix/bin/$t" ] || fail "$t is not installed in $prefix/bin"
  "$tmp/dest$prefix/bin/$t" --help >/dev/null || fail "$t --help"
done
[ -f "$tmp/dest$prefix/share/weft/gdb/weft.py" ] || fail "share/weft/gdb/weft.py is not installed"

if [ -z "$extra" ]; then
  echo "== installed gdb extension (auto-load, no debug info)"
  lib=$(readlink -f "$libdir/libweft.so")
  reldir=${libdir#"$tmp/dest"}  # the library's directory as installed, without DESTDIR
  autoload="$tmp/dest$prefix/share/gdb/auto-load$reldir/$(basename "$lib")-gdb.py"
  [ -f "$autoload" ] || fail "no gdb auto-load file at $autoload"
  # gdb looks for <scripts-directory>/<real path of the library>-gdb.py. The real path includes
  # DESTDIR here, so present the installed file at the place gdb computes from it.
  mkdir -p "$tmp/gdb-auto-load$(dirname "$lib")"
  ln -s "$autoload" "$tmp/gdb-auto-load$lib-gdb.py"
  # Release flags as the README's default build, no -g: gdb has no type information.
  # shellcheck disable=SC2086
  c++ -std=c++20 -O2 -fno-omit-frame-pointer "$src/tests/tools/gdb_program.cpp" -o "$tmp/gdb_program" $cflags $libs
  python3 "$src/tests/tools/gdb_check.py" "$tmp/gdb_program" --autoload-dir "$tmp/gdb-auto-load" --core --attach \
    || fail "gdb extension on the installed library"
fi
echo "consumer: ok"
