#!/usr/bin/env bash
# Builds the binaries of the integration tier (etcd, kube-apiserver and the
# Tekton Pipelines controller) from Go modules into a cache folder outside
# the checkout, named after their versions.
#
#   hack/itest/build.sh        build what is missing, then print the folder
#   hack/itest/build.sh dir    print the folder only
#
# ITEST_BINS_DIR sets the folder. The default is
# ${XDG_CACHE_HOME:-$HOME/.cache}/harbor-gate/itest-bins/<versions>.
# A binary that already exists is not rebuilt, so a second run is a no-op.
# With an empty build cache the three builds take about 6 minutes on 2 cores.
set -euo pipefail

cd "$(dirname "$0")"
itest="$PWD"
root="$(cd ../.. && pwd)"
export GOWORK=off

# required_version prints the version that go.mod in $1 requires of module $2.
required_version() {
	(cd "$1" && go list -m -f '{{.Version}}' "$2")
}

k8s_version="$(required_version "$itest/kube-apiserver" k8s.io/kubernetes)"
etcd_version="$(required_version "$itest/etcd" go.etcd.io/etcd/server/v3)"
tekton_version="$(required_version "$root" github.com/tektoncd/pipeline)"
versions="kube-${k8s_version}_etcd-${etcd_version}_tekton-${tekton_version}"
dir="${ITEST_BINS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/harbor-gate/itest-bins/$versions}"

if [[ "${1:-}" == "dir" ]]; then
	echo "$dir"
	exit 0
fi
mkdir -p "$dir"

# build NAME WORKDIR PACKAGE [go build flags...] builds PACKAGE inside
# WORKDIR into $dir/NAME, unless that binary exists. The binary is written
# under a temporary name first, so an interrupted build leaves no binary.
build() {
	local name="$1" workdir="$2" pkg="$3"
	shift 3
	if [[ -x "$dir/$name" ]]; then
		echo "== $name: up to date in $dir" >&2
		return
	fi
	echo "== building $name" >&2
	local start=$SECONDS
	(cd "$workdir" && go build -trimpath "$@" -o "$dir/.$name.tmp" "$pkg")
	mv "$dir/.$name.tmp" "$dir/$name"
	echo "== built $name in $((SECONDS - start)) s" >&2
}

# Without the version ldflags the server reports v0.0.0-master, and the
# Tekton controller stops at start-up because its version check fails.
k8s_minor="${k8s_version#v1.}"
k8s_minor="${k8s_minor%%.*}"
k8s_ldflags="-s -w"
k8s_ldflags+=" -X k8s.io/component-base/version.gitVersion=$k8s_version"
k8s_ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
k8s_ldflags+=" -X k8s.io/component-base/version.gitMinor=$k8s_minor"
k8s_ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"
k8s_ldflags+=" -X k8s.io/client-go/pkg/version.gitMajor=1"
k8s_ldflags+=" -X k8s.io/client-go/pkg/version.gitMinor=$k8s_minor"

build etcd "$itest/etcd" go.etcd.io/etcd/server/v3 -ldflags "-s -w"
build kube-apiserver "$itest/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver \
	-ldflags "$k8s_ldflags"

# Tekton's go.mod carries replace directives as well. Building inside the
# module's own directory applies them, with the go.sum it ships.
tekton_dir="$(cd "$root" && go mod download -json "github.com/tektoncd/pipeline@$tekton_version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ -z "$tekton_dir" ]]; then
	echo "cannot find the module directory of github.com/tektoncd/pipeline@$tekton_version" >&2
	exit 1
fi
build tekton-controller "$tekton_dir" ./cmd/controller -mod=readonly -ldflags "-s -w"

echo "$dir"
