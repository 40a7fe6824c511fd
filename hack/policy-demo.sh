#!/usr/bin/env bash
# Shows the project policy of config/harbor/project.yaml at work on this
# machine, against the Harbor double that "harbor-gate sandbox" runs on
# loopback. The administrator applies the policy. The robot account that
# apply created then publishes a clean image (PASS), pushes over an immutable
# tag (HTTP 412 PRECONDITION), publishes a vulnerable image (FAIL) and pulls
# it by digest (HTTP 412 PROJECTPOLICYVIOLATION). Last, "project diff" finds
# a change made through Harbor's API. Each step prints its command, its
# output and its exit code. The script exits 1 when any outcome differs from
# the expected one. Passwords are passed only as files, never as arguments.
set -euo pipefail

cd "$(dirname "$0")/.."
work="$(mktemp -d)"
bin="$work/harbor-gate"
sandbox_pid=""
cleanup() {
	if [[ -n "$sandbox_pid" ]]; then
		kill "$sandbox_pid" 2>/dev/null || true
		wait "$sandbox_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

failures=0

# expect DESCRIPTION EXIT_CODE TEXT COMMAND...: runs COMMAND, prints it with its
# output and exit code, and counts a failure unless the exit code is EXIT_CODE
# and the output contains TEXT.
expect() {
	local description=$1 want_code=$2 want_text=$3 code=0
	shift 3
	echo
	echo "== $description"
	echo "\$ $*"
	"$@" >"$work/step.out" 2>&1 || code=$?
	sed 's/^/  | /' "$work/step.out"
	if [[ "$code" != "$want_code" ]]; then
		echo "   UNEXPECTED: exit code $code, expected $want_code"
		failures=$((failures + 1))
	elif ! grep -qF -- "$want_text" "$work/step.out"; then
		echo "   UNEXPECTED: the output lacks \"$want_text\""
		failures=$((failures + 1))
	else
		echo "   ok: exit code $code, output contains \"$want_text\""
	fi
}

echo "== building harbor-gate and two images of it (ko layout, OCI)"
go build -o "$bin" ./cmd/harbor-gate
go run ./hack/build-image -binary "$bin" -out "$work/clean" -label demo.variant=clean
go run ./hack/build-image -binary "$bin" -out "$work/vulnerable" -label demo.variant=vulnerable

echo "== starting the Harbor double with the project platform"
"$bin" sandbox --dir "$work/sandbox" --project platform \
	>"$work/sandbox.out" 2>"$work/sandbox.log" &
sandbox_pid=$!
for _ in $(seq 1 100); do
	[[ -s "$work/sandbox/sandbox.env" ]] && break
	if ! kill -0 "$sandbox_pid" 2>/dev/null; then cat "$work/sandbox.log"; exit 1; fi
	sleep 0.1
done
set -a; . "$work/sandbox/sandbox.env"; set +a
echo "   Harbor double at $HARBOR_URL, administrator $HARBOR_ADMIN_USERNAME"

policy=config/harbor/project.yaml
# The policy reads secrets such as the webhook's auth header from Kubernetes
# Secrets. Without a cluster, --secrets-dir reads each secretRef {namespace,
# name, key} from the file <dir>/<namespace>/<name>/<key>, the layout in which
# Kubernetes mounts Secrets; the demo writes a made-up value for each. The
# double stores the values and never uses them to connect anywhere: it
# replicates nothing and sends webhooks only to loopback addresses.
secrets="$work/secrets"
refs=$(grep -oE 'secretRef: *\{namespace: *[^,}]+, *name: *[^,}]+, *key: *[^,}]+\}' "$policy" |
	sed -E 's/.*namespace: *([^,}]+), *name: *([^,}]+), *key: *([^,}]+)\}/\1\/\2\/\3/')
for ref in $refs; do
	mkdir -p "$secrets/$(dirname "$ref")"
	printf 'Bearer demo-%s\n' "${ref//\//-}" >"$secrets/$ref"
done
echo "   secrets for $policy in $secrets:" $refs

admin=(--harbor-url "$HARBOR_URL" --username "$HARBOR_ADMIN_USERNAME"
	--password-file "$HARBOR_ADMIN_PASSWORD_FILE" --secrets-dir "$secrets")

expect "apply the policy as the administrator; write the new robot's Secrets" \
	0 "robot robot\$platform+harbor-gate has a new secret" \
	"$bin" project apply -f "$policy" "${admin[@]}" \
	--gate-secret-out "$work/gate-secret.yaml" --pull-secret-out "$work/pull-secret.yaml"
expect "diff right after apply: in sync" 0 "no changes" \
	"$bin" project diff -f "$policy" "${admin[@]}"

# The gate Secret is a kubernetes.io/basic-auth Secret with base64 data.
robot=$(sed -n 's/^  username: //p' "$work/gate-secret.yaml" | base64 -d)
sed -n 's/^  password: //p' "$work/gate-secret.yaml" | base64 -d >"$work/robot.password"
echo
echo "   robot from the gate Secret: $robot (password in $work/robot.password)"
publish=(--harbor-url "$HARBOR_URL" --username "$robot" --password-file "$work/robot.password"
	--key "$COSIGN_KEY" --key-password-file "$COSIGN_PASSWORD_FILE"
	--scan-grace 2s --poll-interval 200ms --timeout 2m)
app="$HARBOR_REGISTRY/platform/app:v1.0.0"
vulnerable="$HARBOR_REGISTRY/platform/app-vulnerable:v1.0.0"

expect "publish the clean image as the robot: PASS" 0 "PASS  $app@" \
	"$bin" publish --source "oci:$work/clean" --target "$app" "${publish[@]}"
expect "publish another image to the immutable tag v1.0.0: refused" \
	4 "(HTTP 412 PRECONDITION): Failed to process request due to 'app:v1.0.0' configured as immutable." \
	"$bin" publish --source "oci:$work/vulnerable" --target "$app" "${publish[@]}"
expect "publish the vulnerable image: FAIL" 1 "FAIL  $vulnerable@" \
	"$bin" publish --source "oci:$work/vulnerable" --target "$vulnerable" "${publish[@]}" \
	--results-dir "$work/results-vulnerable"

digest=$(cat "$work/results-vulnerable/IMAGE_DIGEST")
expect "pull the vulnerable image by digest: blocked by vulnerability prevention" \
	1 "PROJECTPOLICYVIOLATION: current image with" \
	go run ./hack/pull -insecure -username "$robot" -password-file "$work/robot.password" \
	"$HARBOR_REGISTRY/platform/app-vulnerable@$digest"

# curl reads the administrator's credentials from its standard input, so that
# the password appears in no process's arguments.
drift() {
	local url="$HARBOR_URL/api/v2.0/projects/platform"
	local body='{"metadata": {"severity": "low"}}'
	echo "curl --config - --request PUT --data '$body' $url  (user $HARBOR_ADMIN_USERNAME)"
	printf 'user = "%s:%s"\n' "$HARBOR_ADMIN_USERNAME" "$(cat "$HARBOR_ADMIN_PASSWORD_FILE")" |
		curl --silent --show-error --fail --config - --request PUT \
			--header 'Content-Type: application/json' \
			--data "$body" --write-out 'HTTP %{http_code}\n' "$url"
}
expect "change the project's severity to low through Harbor's API" 0 "HTTP 200" drift
expect "diff after the change: drift, exit code 1" 1 "~ metadata severity: low -> critical" \
	"$bin" project diff -f "$policy" "${admin[@]}"

echo
if ((failures > 0)); then
	echo "policy demo FAILED: $failures outcome(s) differ from the expected ones"
	exit 1
fi
echo "policy demo finished: every outcome as expected"
