#!/usr/bin/env bash
# Runs the whole test suite: C unit tests, then integration tests that mount the real binary
# against the bundled test server. Needs ./setup.sh first, and root (or a /dev/fuse that the
# user may open) because the tests mount for real.
#   ./test.sh              the suite on the normal build
#   ./test.sh --sanitize   the same suite on an ASan+UBSan build (build-asan/)
#   ./test.sh --valgrind   reads, writes, renames and listings with every mount under
#                          valgrind's memcheck (a few minutes); a mount fails its test unless
#                          valgrind found no errors and no definite leaks
# Arguments after these go to pytest (with --valgrind they replace its choice of tests).
set -euo pipefail
cd "$(dirname "$0")"

build=build
reports=""
tests=(tests/integration)
mode=${1:-}
case $mode in
--sanitize)
	shift
	build=build-asan
	[ -f $build/build.ninja ] || meson setup $build -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	reports="$PWD/$build/sanitizer-reports"
	rm -rf "$reports"
	;;
--valgrind)
	shift
	export GCSMOUNT_VALGRIND=1
	tests=()
	if [ $# -eq 0 ]; then
		# Valgrind is slow: a representative part, without the tests that move hundreds
		# of MiB, run whole tools (git, tar), time a daemon's exit or repeat another's path.
		skip=(200_mib git_init tar_extracts cp_r stop_signal lazy_unmount second_mount
		      if_generation_match_zero listed_before mkdir_mode names_gcs full_staging
		      shows_every_name_once)
		expr=$(printf ' and not %s' "${skip[@]}")
		tests=(tests/integration/test_writes.py tests/integration/test_rename_semantics.py
		       tests/integration/test_parallel_listing.py tests/integration/test_caching.py
		       tests/integration/test_malformed_listing.py -k "${expr# and }")
	fi
	;;
esac

check_reports() {
	local rc=$?
	if [ -n "$reports" ] && [ -n "$(ls -A "$reports" 2>/dev/null)" ]; then
		for f in "$reports"/*; do
			echo "=== sanitizer report $f"
			cat "$f"
		done
		echo "test.sh: the sanitizers reported errors (above)" >&2
		rc=1
	fi
	exit $rc
}
trap check_reports EXIT

[ -f $build/build.ninja ] || meson setup $build -Dwerror=true
ninja -C $build
[ "$mode" = --valgrind ] || meson test -C $build --print-errorlogs
if [ -n "$reports" ]; then
	# For the mounts, reports go to files, not stderr: a daemonized mount's stderr is
	# /dev/null. A foreground mount's test still fails on its own report (mounting.py reads
	# it); the check at the end catches every other process. 1777: tests also run the binary
	# as nobody.
	mkdir -p "$reports"
	chmod 1777 "$reports"
	export ASAN_OPTIONS=$ASAN_OPTIONS:log_path=$reports/asan
	export UBSAN_OPTIONS=$UBSAN_OPTIONS:log_path=$reports/ubsan
fi
export GCSMOUNT_BIN="$PWD/$build/fs/gcsmount"
# Debian's python3 carries python3-pytest; a python3 earlier on PATH may not.
/usr/bin/python3 -m pytest "${tests[@]}" "$@"
