#!/usr/bin/env bash
# Installs the Debian packages saker needs to build, run and test: only
# those missing, and says which. Safe to run again.
set -euo pipefail

pkgs=(
	make gcc clang llvm libc6-dev linux-libc-dev pkg-config
	libbpf-dev bpftool libelf-dev zlib1g-dev
	libyaml-dev libjson-c-dev libcurl4-openssl-dev libmicrohttpd-dev
	libnats-dev nats-server
	libcmocka-dev python3 python3-pytest
	nodejs npm
	prometheus
	iproute2 procps
	containerd runc busybox-static
	systemd man-db groff-base
)

# Packages whose command is enough, however it came: a host with Node.js from
# NodeSource has node and npm in its nodejs package, and Debian's npm conflicts with it.
declare -A provides=([nodejs]=node [npm]=npm)

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] && continue
	[[ -n "${provides[$p]:-}" ]] && command -v "${provides[$p]}" >/dev/null && continue
	missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

echo "deps: installing missing Debian packages: ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
	echo "deps: must run as root to install packages (saker itself needs root to load BPF)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; update once, then install.
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
echo "deps: installed ${missing[*]}" >&2
