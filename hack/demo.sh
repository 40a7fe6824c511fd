#!/usr/bin/env bash
# Runs harbor-gate's main job end to end on this machine: starts the
# Harbor double, builds a real image of the harbor-gate binary, and
# publishes it twice, once to a repository the double's scanner finds
# clean (PASS) and once to one where it finds a Critical CVE (FAIL).
set -euo pipefail

cd "$(dirname "$0")/.."
bin=bin/harbor-gate
work="$(mktemp -d)"
sandbox_pid=""
cleanup() {
	if [[ -n "$sandbox_pid" ]]; then kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "== building images of $bin (ko layout, OCI)"
go run ./hack/build-image -binary "$bin" -out "$work/clean" -label demo.variant=clean
go run ./hack/build-image -binary "$bin" -out "$work/vulnerable" -label demo.variant=vulnerable

echo "== starting the Harbor double"
"$bin" sandbox --dir "$work/sandbox" >"$work/sandbox.out" 2>"$work/sandbox.log" &
sandbox_pid=$!
for _ in $(seq 1 100); do
	[[ -s "$work/sandbox/sandbox.env" ]] && break
	if ! kill -0 "$sandbox_pid" 2>/dev/null; then cat "$work/sandbox.log"; exit 1; fi
	sleep 0.1
done
set -a; . "$work/sandbox/sandbox.env"; set +a
echo "   Harbor double at $HARBOR_URL"

publish() { # publish LAYOUT REPOSITORY EXPECTED_EXIT
	local code=0
	echo
	echo "== harbor-gate publish --source oci:$1 --target $HARBOR_REGISTRY/$HARBOR_PROJECT/$2:build-1"
	"$bin" publish --source "oci:$1" --target "$HARBOR_REGISTRY/$HARBOR_PROJECT/$2:build-1" \
		--scan-grace 2s --poll-interval 200ms --timeout 2m \
		--results-dir "$work/results-$2" || code=$?
	echo "   exit code $code (expected $3)"
	echo "   results: VERDICT=$(cat "$work/results-$2/VERDICT")" \
		"IMAGE_DIGEST=$(cat "$work/results-$2/IMAGE_DIGEST")" \
		"VULNERABILITY_COUNTS=$(cat "$work/results-$2/VULNERABILITY_COUNTS")"
	[[ "$code" == "$3" ]]
}

publish "$work/clean" app 0
publish "$work/vulnerable" app-vulnerable 1
echo
echo "demo finished: one PASS and one FAIL, as expected"
