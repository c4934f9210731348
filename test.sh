#!/usr/bin/env bash
# Runs the whole test suite: C unit tests, then integration tests that mount the real binary
# against the bundled test server. Needs ./setup.sh first, and root (or a /dev/fuse that the
# user may open) because the tests mount for real.
#   ./test.sh              the suite on the normal build
#   ./test.sh --sanitize   the same suite on an ASan+UBSan build (build-asan/)
set -euo pipefail
cd "$(dirname "$0")"

build=build
if [ "${1:-}" = "--sanitize" ]; then
	build=build-asan
	shift
	[ -f $build/build.ninja ] || meson setup $build -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
[ -f $build/build.ninja ] || meson setup $build -Dwerror=true
ninja -C $build
meson test -C $build --print-errorlogs
export GCSMOUNT_BIN="$PWD/$build/fs/gcsmount"
# Debian's python3 carries python3-pytest; a python3 earlier on PATH may not.
exec /usr/bin/python3 -m pytest tests/integration "$@"
