#!/usr/bin/env bash
# Uses an installed libclustron as a C user would: builds examples/c/quickstart.c with
# pkg-config (shared library) and with CMake's find_package(clustron) (shared and static), checks
# that the programs ask for the library by its SONAME, and runs them.
#
#   tests/c/installed.sh PREFIX LIBDIR_NAME BUILD_DIR
#
# Used by `make test-install-c` (a staged `make install-c`) and by tests/dist (the C tarball).
set -euo pipefail
prefix=$(realpath "$1"); libdir=$prefix/$2; build=$3
here=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$build"; mkdir -p "$build"
major=$(sed -n 's/^#define CLUSTRON_VERSION_MAJOR \([0-9]*\)$/\1/p' "$prefix/include/clustron.h")
[ -n "$major" ] || { echo "clustron.h has no CLUSTRON_VERSION_MAJOR"; exit 1; }

soname=$(readelf -d "$libdir/libclustron.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libclustron.so.$major" ] || { echo "SONAME is '$soname', not libclustron.so.$major"; exit 1; }
[ -L "$libdir/libclustron.so.$major" ] || { echo "libclustron.so.$major is not a symlink"; exit 1; }

# pkg-config, shared
export PKG_CONFIG_PATH=$libdir/pkgconfig
version=$(pkg-config --modversion clustron)
cc "$here/examples/c/quickstart.c" $(pkg-config --cflags --libs clustron) -Wl,-rpath,"$libdir" -o "$build/quickstart-pkgconfig"
readelf -d "$build/quickstart-pkgconfig" | grep -q "NEEDED.*\[libclustron.so.$major\]" \
  || { echo "the program does not need libclustron.so.$major"; exit 1; }
"$build/quickstart-pkgconfig" >/dev/null

# CMake, shared and static
mkdir -p "$build/cmake-project"
cat > "$build/cmake-project/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.16)
project(uses_clustron C)
find_package(clustron $version REQUIRED)
add_executable(quickstart_shared "$here/examples/c/quickstart.c")
target_link_libraries(quickstart_shared PRIVATE clustron::clustron)
add_executable(quickstart_static "$here/examples/c/quickstart.c")
target_link_libraries(quickstart_static PRIVATE clustron::clustron_static)
CMAKE
cmake -S "$build/cmake-project" -B "$build/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$build/cmake" >/dev/null
"$build/cmake/quickstart_shared" >/dev/null
"$build/cmake/quickstart_static" >/dev/null
if readelf -d "$build/cmake/quickstart_static" | grep -q libclustron; then
  echo "the static program still needs libclustron.so"; exit 1
fi
echo "libclustron $version (SONAME $soname): pkg-config and CMake (shared, static) builds ran"
