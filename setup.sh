#!/usr/bin/env bash
# Installs what gcsmount needs on Debian or Ubuntu with apt-get (through sudo when not root)
# and builds it.
#   ./setup.sh            the build and test dependencies (Debian 12 or later), build, then a
#                         demo mount of the bundled test server that needs no Google account
#   ./setup.sh --no-demo  the same without the demo
#   ./setup.sh --runtime  only what building and running need, build gcsmount alone and install
#                         it under /usr/local (meson install): for notebooks and VMs, on Debian 11
#                         and 12 and Ubuntu 22.04 and 24.04; quiet unless something fails
set -euo pipefail
cd "$(dirname "$0")"

mode=${1:-}
case $mode in
"" | --no-demo | --runtime) ;;
*)
	echo "usage: ./setup.sh [--no-demo | --runtime]" >&2
	exit 2
	;;
esac

# Building and running; the same names on Debian 11 and 12 and Ubuntu 22.04 and 24.04.
runtime_packages=(gcc libc6-dev meson ninja-build pkg-config
                  libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev libxml2-dev libjson-c-dev
                  ca-certificates)
# The tests, the demo, the Debian package and the check on Debian 11 (tools/check-debian11);
# valgrind for ./test.sh --valgrind; clang and its runtimes (libFuzzer, sanitizers) for
# tests/fuzz/run; python3-crc32c for the test server's checksums in C.
dev_packages=(build-essential python3 python3-pytest python3-crc32c rclone nghttp2-proxy curl openssl
              debhelper dpkg-dev fakeroot debootstrap valgrind clang libclang-rt-dev)

packages=("${runtime_packages[@]}")
[ "$mode" = --runtime ] || packages+=("${dev_packages[@]}")
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# --runtime keeps the output of apt-get, meson and ninja in a log, and shows it on failure.
if [ "$mode" = --runtime ]; then
	log=$(mktemp "${TMPDIR:-/tmp}/gcsmount-setup.XXXXXX")
	step() {
		"$@" >>"$log" 2>&1 || {
			echo "setup: failed: $*; the end of its output:" >&2
			tail -n 40 "$log" >&2
			echo "setup: the whole output is in $log" >&2
			exit 1
		}
	}
else
	step() { "$@"; }
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	step $sudo apt-get update -qq
	step $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
	# nghttp2-proxy brings a proxy service that is not wanted here: the tests start their own.
	if [[ " ${missing[*]} " == *" nghttp2-proxy "* ]] && [ -d /run/systemd/system ]; then
		$sudo systemctl disable --now nghttpx.service >/dev/null 2>&1 || true
	fi
fi

if [ "$mode" = --runtime ]; then
	echo "setup: building gcsmount"
	[ -f build/build.ninja ] || step meson setup build
	step ninja -C build fs/gcsmount
	step $sudo meson install -C build --no-rebuild
	rm -f "$log"
	bin=$(command -v gcsmount) || { echo "setup: gcsmount was installed, but is not on PATH" >&2; exit 1; }
	echo "setup: installed $("$bin" --version) as $bin; mount a bucket with: gcsmount BUCKET DIR"
	exit 0
fi

if [ ! -f build/build.ninja ]; then
	meson setup build -Dwerror=true
fi
ninja -C build
echo "setup: built build/fs/gcsmount"

if [ "$mode" != --no-demo ]; then
	tools/try-local --once
fi
