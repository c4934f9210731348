#!/usr/bin/env bash
# Installs what gcsmount needs on Debian 12 (or a later Debian/Ubuntu), builds it, and
# shows a mount of the bundled test server so that it can be tried without a Google account.
#   ./setup.sh            install, build, demo
#   ./setup.sh --no-demo  install and build only
set -euo pipefail
cd "$(dirname "$0")"

packages=(build-essential meson ninja-build pkg-config
          libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev libxml2-dev libjson-c-dev
          python3 python3-pytest rclone nghttp2-proxy curl ca-certificates openssl
          debhelper dpkg-dev fakeroot)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "setup: installing ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
	# nghttp2-proxy brings a proxy service that is not wanted here: the tests start their own.
	if [[ " ${missing[*]} " == *" nghttp2-proxy "* ]] && [ -d /run/systemd/system ]; then
		$sudo systemctl disable --now nghttpx.service >/dev/null 2>&1 || true
	fi
fi

if [ ! -f build/build.ninja ]; then
	meson setup build -Dwerror=true
fi
ninja -C build
echo "setup: built build/fs/gcsmount"

if [ "${1:-}" != "--no-demo" ]; then
	tools/try-local --once
fi
