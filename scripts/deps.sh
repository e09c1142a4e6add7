#!/bin/sh
# Installs the Debian packages renkei needs to build and test, if missing.
# Runs apt-get only when something is absent (needs root then).
set -eu
pkgs="build-essential cmake pkg-config libsqlite3-dev libcurl4-openssl-dev
libzstd-dev libsodium-dev libmicrohttpd-dev libjansson-dev libinih-dev
libcmocka-dev sqlite3 zstd curl procps"
# The web UI's end-to-end tests: Debian's Chromium (driven headless by
# playwright-core from npm), and Japanese fonts so the screenshots show
# the text a tablet would.
pkgs="$pkgs chromium fonts-noto-cjk"
# Integration tests: libfaketime to run a daemon at another date (overdue
# requests, the retention period), poppler-utils to render a printed PDF.
pkgs="$pkgs faketime poppler-utils"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
# Node.js and npm by command, not by package: a machine may have them
# from elsewhere (and Debian's npm conflicts with some nodejs builds).
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
