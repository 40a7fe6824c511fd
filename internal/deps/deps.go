//go:build tools

package deps

import (
	_ "github.com/distribution/distribution/v3/registry"
	_ "github.com/goharbor/go-client/pkg/harbor"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/sigstore/cosign/v2/pkg/cosign"
	_ "github.com/spf13/cobra"
	_ "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	_ "knative.dev/pkg/injection/sharedmain"
)
