#!/usr/bin/env bash
# Runs the push benchmark of test/bench/push: harbor-gate's push against
# crane copy, skopeo copy and plain HTTP uploads, and the publish command
# against crane copy plus cosign sign.
#
#   hack/bench/push.sh [flags of test/bench/push]   prepare, then run
#   hack/bench/push.sh prepare                       prepare only
#
# Preparing installs the Debian packages docker-registry, skopeo and
# debootstrap when their commands are missing. It builds a minimal Debian
# root file system with debootstrap, from the Debian mirror that apt is
# configured with. It builds crane and cosign at the versions go.mod
# requires. All of it goes into a cache folder outside the checkout,
# PUSH_BENCH_DIR, by default ${XDG_CACHE_HOME:-$HOME/.cache}/harbor-gate/bench,
# and later runs reuse it. apt-get and debootstrap need root, so the script
# uses sudo when it runs as another user.
set -euo pipefail

cd "$(dirname "$0")/../.."
root="$PWD"
export GOWORK=off
cache="${PUSH_BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/harbor-gate/bench}"
mkdir -p "$cache/bin"

# as_root runs its arguments as root, through sudo unless already root.
as_root() {
	if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# install_missing installs the Debian packages whose commands are missing.
install_missing() {
	local missing=()
	command -v docker-registry >/dev/null || missing+=(docker-registry)
	command -v skopeo >/dev/null || missing+=(skopeo)
	[[ -x /usr/sbin/debootstrap ]] || missing+=(debootstrap)
	if [[ ${#missing[@]} -gt 0 ]]; then
		echo "== installing ${missing[*]}" >&2
		as_root apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends "${missing[@]}"
	fi
}

# debian_mirror prints the URI of the configured Debian archive that
# serves the release this machine runs, as apt lists it.
debian_mirror() {
	local codename="$1"
	apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' |
		awk -v release="$codename" '$2 == release { print $1; exit }'
}

# build_rootfs writes a tar of a debootstrap minbase root file system to
# $cache/debian-<codename>-minbase.tar unless it exists.
build_rootfs() {
	local codename
	# shellcheck disable=SC1091
	codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
	if [[ -z "$codename" ]]; then
		echo "cannot read VERSION_CODENAME from /etc/os-release" >&2
		exit 1
	fi
	rootfs_tar="$cache/debian-$codename-minbase.tar"
	if [[ -f "$rootfs_tar" ]]; then
		echo "== root file system: up to date in $rootfs_tar" >&2
		return
	fi

	local mirror
	mirror="$(debian_mirror "$codename")"
	if [[ -z "$mirror" ]]; then
		# apt lists its archives only once it has downloaded their indexes.
		as_root apt-get update -qq
		mirror="$(debian_mirror "$codename")"
	fi
	if [[ -z "$mirror" ]]; then
		echo "no Debian archive for $codename in apt's sources (/etc/apt/sources.list*)" >&2
		exit 1
	fi

	local dir="$cache/.rootfs-$codename"
	echo "== debootstrap --variant=minbase $codename" >&2
	as_root rm -rf "$dir"
	as_root debootstrap --variant=minbase "$codename" "$dir" "$mirror" >&2
	as_root tar -C "$dir" --numeric-owner --sort=name -cf "$cache/.rootfs.tmp" .
	as_root chown "$(id -u):$(id -g)" "$cache/.rootfs.tmp"
	mv "$cache/.rootfs.tmp" "$rootfs_tar"
	as_root rm -rf "$dir"
}

# build NAME MODULE PACKAGE [go build flags...] builds PACKAGE of MODULE,
# at the version go.mod requires, into $cache/bin/NAME-VERSION. It builds
# inside the module's own folder, so that the module's go.mod and go.sum
# apply.
build() {
	local name="$1" module="$2" pkg="$3"
	shift 3
	local version dir
	version="$(go list -m -f '{{.Version}}' "$module")"
	binary="$cache/bin/$name-$version"
	if [[ -x "$binary" ]]; then
		echo "== $name $version: up to date" >&2
		return
	fi
	dir="$(go mod download -json "$module@$version" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	echo "== building $name $version" >&2
	(cd "$dir" && go build -mod=readonly -trimpath "$@" -o "$binary.tmp" "$pkg")
	mv "$binary.tmp" "$binary"
}

install_missing
build_rootfs
build crane github.com/google/go-containerregistry ./cmd/crane -ldflags "-s -w"
crane="$binary"
# Without the version the User-Agent reads cosign/devel.
cosign_version="$(go list -m -f '{{.Version}}' github.com/sigstore/cosign/v2)"
build cosign github.com/sigstore/cosign/v2 ./cmd/cosign \
	-ldflags "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$cosign_version"
cosign="$binary"
if [[ "${1:-}" == "prepare" ]]; then
	exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "== building harbor-gate and the benchmark" >&2
go build -trimpath -ldflags='-s -w' -o "$work/harbor-gate" ./cmd/harbor-gate
go build -trimpath -o "$work/pushbench" ./test/bench/push
go build -trimpath -o "$work/child" ./test/bench/push/child
"$work/pushbench" -child "$work/child" -rootfs "$rootfs_tar" -crane "$crane" \
	-cosign "$cosign" -harbor-gate "$work/harbor-gate" "$@"
