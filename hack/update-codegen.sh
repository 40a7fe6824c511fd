#!/usr/bin/env bash
# Regenerates the DeepCopy methods of the API types. Run after changing
# pkg/apis; the code-generator release matches the k8s.io modules in go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."
go run k8s.io/code-generator/cmd/deepcopy-gen@v0.35.3 \
	--go-header-file hack/boilerplate.go.txt \
	--output-file zz_generated.deepcopy.go \
	./pkg/apis/harbor/v1alpha1
