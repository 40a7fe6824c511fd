package manifests

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"knative.dev/pkg/injection"
	"knative.dev/pkg/leaderelection"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/observability"
	"sigs.k8s.io/yaml"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
)

const (
	systemNamespace = "harbor-gate"
	serviceAccount  = "harbor-gate-controller"
	controllerImage = "ko://github.com/druppie/harbor-gate/cmd/controller"
	// controllerComponent is the component name cmd/controller passes to
	// knative's sharedmain, which keys its log level in config-logging.
	controllerComponent = "harbor-gate-controller"
)

// broadSecretAccess returns a description of each rule that grants more
// than "get" on Secrets, including through "*" in API groups, resources
// or verbs. The controller reads only the Secrets a run names, so list
// and watch would only widen what a compromised controller could read.
func broadSecretAccess(rules []rbacv1.PolicyRule) []string {
	var found []string
	for i, rule := range rules {
		coreGroup := slices.Contains(rule.APIGroups, "") || slices.Contains(rule.APIGroups, "*")
		secrets := slices.Contains(rule.Resources, "secrets") ||
			slices.Contains(rule.Resources, "*")
		if !coreGroup || !secrets {
			continue
		}
		for _, verb := range rule.Verbs {
			if verb != "get" {
				found = append(found, fmt.Sprintf("rule %d grants %q on secrets", i, verb))
			}
		}
	}
	return found
}

func TestBroadSecretAccessDetects(t *testing.T) {
	tests := []struct {
		name  string
		rules []rbacv1.PolicyRule
		want  []string
	}{{
		name: "get only",
		rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"},
		}},
	}, {
		name: "list and watch",
		rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"secrets"},
			Verbs: []string{"get", "list", "watch"},
		}},
		want: []string{`rule 0 grants "list" on secrets`, `rule 0 grants "watch" on secrets`},
	}, {
		name: "wildcard resource",
		rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"*"}, Verbs: []string{"list"},
		}},
		want: []string{`rule 0 grants "list" on secrets`},
	}, {
		name: "wildcard verb",
		rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"*"}, Resources: []string{"secrets"}, Verbs: []string{"*"},
		}},
		want: []string{`rule 0 grants "*" on secrets`},
	}, {
		name: "other group",
		rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"tekton.dev"}, Resources: []string{"*"}, Verbs: []string{"list"},
		}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, broadSecretAccess(tc.rules)); diff != "" {
				t.Errorf("broadSecretAccess() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRolesGrantNoSecretListOrWatch(t *testing.T) {
	docs := loadDocuments(t)
	for _, role := range objectsOf[*rbacv1.ClusterRole](docs) {
		for _, problem := range broadSecretAccess(role.Rules) {
			t.Errorf("ClusterRole %s: %s; the controller may only get Secrets",
				role.Name, problem)
		}
	}
	for _, role := range objectsOf[*rbacv1.Role](docs) {
		for _, problem := range broadSecretAccess(role.Rules) {
			t.Errorf("Role %s: %s; the controller may only get Secrets", role.Name, problem)
		}
	}
}

// grants flattens rules into "group/resource: verb" strings, sorted.
func grants(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, rule := range rules {
		for _, group := range rule.APIGroups {
			for _, resource := range rule.Resources {
				for _, verb := range rule.Verbs {
					out = append(out, fmt.Sprintf("%s/%s: %s", group, resource, verb))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestControllerRBAC(t *testing.T) {
	docs := loadDocuments(t)
	wantCluster := []string{
		"/events: create", "/events: patch", "/secrets: get",
		"harbor.druppie.dev/imagegates: get", "harbor.druppie.dev/imagegates: list",
		"harbor.druppie.dev/imagegates: watch",
		"tekton.dev/customruns/finalizers: update",
		"tekton.dev/customruns/status: patch", "tekton.dev/customruns/status: update",
		"tekton.dev/customruns: get", "tekton.dev/customruns: list",
		"tekton.dev/customruns: patch", "tekton.dev/customruns: update",
		"tekton.dev/customruns: watch",
	}
	wantNamespaced := []string{
		"/configmaps: get", "/configmaps: list", "/configmaps: watch", "/secrets: get",
		"coordination.k8s.io/leases: create", "coordination.k8s.io/leases: delete",
		"coordination.k8s.io/leases: get", "coordination.k8s.io/leases: list",
		"coordination.k8s.io/leases: patch", "coordination.k8s.io/leases: update",
		"coordination.k8s.io/leases: watch",
	}
	var gotCluster, gotNamespaced []string
	for _, b := range objectsOf[*rbacv1.ClusterRoleBinding](docs) {
		if !bindsController(b.Subjects) {
			continue
		}
		role := findNamed(objectsOf[*rbacv1.ClusterRole](docs), b.RoleRef.Name,
			func(r *rbacv1.ClusterRole) string { return r.Name })
		if role == nil {
			t.Fatalf("ClusterRoleBinding %s names ClusterRole %s, which no manifest defines",
				b.Name, b.RoleRef.Name)
		}
		gotCluster = append(gotCluster, grants(role.Rules)...)
	}
	for _, b := range objectsOf[*rbacv1.RoleBinding](docs) {
		if !bindsController(b.Subjects) {
			continue
		}
		role := findNamed(objectsOf[*rbacv1.Role](docs), b.RoleRef.Name,
			func(r *rbacv1.Role) string { return r.Name })
		if role == nil {
			t.Fatalf("RoleBinding %s names Role %s, which no manifest defines",
				b.Name, b.RoleRef.Name)
		}
		if role.Namespace != systemNamespace || b.Namespace != systemNamespace {
			t.Errorf("Role %s and its binding are in namespaces %q and %q, want %q",
				role.Name, role.Namespace, b.Namespace, systemNamespace)
		}
		gotNamespaced = append(gotNamespaced, grants(role.Rules)...)
	}
	sort.Strings(gotCluster)
	sort.Strings(gotNamespaced)
	if diff := cmp.Diff(wantCluster, gotCluster); diff != "" {
		t.Errorf("cluster-wide grants of the controller (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantNamespaced, gotNamespaced); diff != "" {
		t.Errorf("grants of the controller in %s (-want +got):\n%s", systemNamespace, diff)
	}
}

// webhookSecretName is the Secret in the controller's namespace that holds the
// Authorization value of Harbor's webhook deliveries.
const webhookSecretName = "harbor-gate-webhook"

func TestNamespacedSecretRuleNamesWebhookSecret(t *testing.T) {
	docs := loadDocuments(t)
	found := false
	for _, role := range objectsOf[*rbacv1.Role](docs) {
		for i, rule := range role.Rules {
			if !slices.Contains(rule.Resources, "secrets") {
				continue
			}
			found = true
			if diff := cmp.Diff([]string{webhookSecretName}, rule.ResourceNames); diff != "" {
				t.Errorf("Role %s rule %d resourceNames (-want +got):\n%s", role.Name, i, diff)
			}
		}
	}
	if !found {
		t.Errorf("no Role grants get on the Secret %s", webhookSecretName)
	}
}

func TestWebhookService(t *testing.T) {
	docs := loadDocuments(t)
	svc := findNamed(objectsOf[*corev1.Service](docs), webhookSecretName,
		func(s *corev1.Service) string { return s.Name })
	if svc == nil {
		t.Fatalf("no Service %s in config/", webhookSecretName)
	}

	d := controllerDeployment(t, docs)
	if diff := cmp.Diff(d.Spec.Selector.MatchLabels, svc.Spec.Selector); diff != "" {
		t.Errorf("Service selector differs from the Deployment's (-want +got):\n%s", diff)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Service has %d ports, want 1", len(svc.Spec.Ports))
	}
	port := svc.Spec.Ports[0]
	if port.Port != 80 {
		t.Errorf("Service port = %d, want 80", port.Port)
	}

	c := d.Spec.Template.Spec.Containers[0]
	var containerPort int32
	for _, p := range c.Ports {
		if p.Name == port.TargetPort.StrVal {
			containerPort = p.ContainerPort
		}
	}
	if containerPort != 8090 {
		t.Errorf("Service targetPort %q is container port %d, want 8090",
			port.TargetPort.String(), containerPort)
	}
	for _, e := range c.Env {
		if e.Name == "WEBHOOK_PORT" && e.Value != "8090" {
			t.Errorf("env WEBHOOK_PORT = %q, want 8090", e.Value)
		}
	}
}

func bindsController(subjects []rbacv1.Subject) bool {
	for _, s := range subjects {
		if s.Kind == "ServiceAccount" && s.Name == serviceAccount && s.Namespace == systemNamespace {
			return true
		}
	}
	return false
}

func findNamed[T any](items []T, name string, nameOf func(T) string) T {
	var zero T
	for _, item := range items {
		if nameOf(item) == name {
			return item
		}
	}
	return zero
}

func controllerDeployment(t *testing.T, docs []document) *appsv1.Deployment {
	t.Helper()
	d := findNamed(objectsOf[*appsv1.Deployment](docs), "harbor-gate-controller",
		func(d *appsv1.Deployment) string { return d.Name })
	if d == nil {
		t.Fatal("no Deployment harbor-gate-controller in config/")
	}
	if d.Namespace != systemNamespace {
		t.Errorf("Deployment namespace = %q, want %q", d.Namespace, systemNamespace)
	}
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("Deployment has %d containers, want 1", n)
	}
	return d
}

func TestControllerDeployment(t *testing.T) {
	docs := loadDocuments(t)
	d := controllerDeployment(t, docs)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if pod.ServiceAccountName != serviceAccount {
		t.Errorf("serviceAccountName = %q, want %q", pod.ServiceAccountName, serviceAccount)
	}
	if c.Image != controllerImage {
		t.Errorf("image = %q, want %q", c.Image, controllerImage)
	}

	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	wantValues := map[string]string{
		"CONFIG_LOGGING_NAME":        logging.ConfigMapName(),
		"CONFIG_OBSERVABILITY_NAME":  "config-observability",
		"CONFIG_LEADERELECTION_NAME": leaderelection.ConfigMapName(),
		"METRICS_DOMAIN":             "harbor.druppie.dev/harbor-gate",
	}
	for name, want := range wantValues {
		if got := env[name].Value; got != want {
			t.Errorf("env %s = %q, want %q", name, got, want)
		}
	}
	ns := env["SYSTEM_NAMESPACE"].ValueFrom
	if ns == nil || ns.FieldRef == nil || ns.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("env SYSTEM_NAMESPACE is %+v, want it from fieldRef metadata.namespace", ns)
	}

	checkProbe(t, "liveness", c.LivenessProbe, "/health", c.Ports)
	checkProbe(t, "readiness", c.ReadinessProbe, "/readiness", c.Ports)
	checkRestrictedSecurity(t, pod.SecurityContext, c.SecurityContext)
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources = %+v, want a CPU request and a memory limit", c.Resources)
	}
}

// checkProbe checks that p is an HTTP GET of path on the knative probe
// port, given by number or by the name of one of ports.
func checkProbe(t *testing.T, kind string, p *corev1.Probe, path string,
	ports []corev1.ContainerPort,
) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s probe = %+v, want an HTTP GET", kind, p)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("%s probe path = %q, want %q", kind, p.HTTPGet.Path, path)
	}
	port := p.HTTPGet.Port
	if port.Type == intstr.String {
		for _, cp := range ports {
			if cp.Name == port.StrVal {
				port = intstr.FromInt32(cp.ContainerPort)
			}
		}
	}
	if port.IntValue() != injection.HealthCheckDefaultPort {
		t.Errorf("%s probe port = %s, want %d, where knative's sharedmain serves probes",
			kind, p.HTTPGet.Port.String(), injection.HealthCheckDefaultPort)
	}
}

// checkRestrictedSecurity checks the settings the "restricted" Pod
// Security Standard requires, which the namespace enforces.
func checkRestrictedSecurity(t *testing.T, pod *corev1.PodSecurityContext,
	c *corev1.SecurityContext,
) {
	t.Helper()
	if c == nil || pod == nil {
		t.Fatalf("security contexts: pod %+v, container %+v; want both set", pod, c)
	}
	if c.RunAsNonRoot == nil || !*c.RunAsNonRoot {
		t.Error("container securityContext.runAsNonRoot is not true")
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		t.Error("container securityContext.readOnlyRootFilesystem is not true")
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		t.Error("container securityContext.allowPrivilegeEscalation is not false")
	}
	if c.Capabilities == nil || !slices.Equal(c.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container capabilities = %+v, want drop [ALL]", c.Capabilities)
	}
	if c.SeccompProfile == nil || c.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container seccompProfile = %+v, want RuntimeDefault", c.SeccompProfile)
	}
}

// configMap returns the ConfigMap name from the manifests.
func configMap(t *testing.T, docs []document, name string) *corev1.ConfigMap {
	t.Helper()
	cm := findNamed(objectsOf[*corev1.ConfigMap](docs), name,
		func(cm *corev1.ConfigMap) string { return cm.Name })
	if cm == nil {
		t.Fatalf("no ConfigMap %s in config/", name)
	}
	if cm.Namespace != systemNamespace {
		t.Errorf("ConfigMap %s namespace = %q, want %q", name, cm.Namespace, systemNamespace)
	}
	return cm
}

// exampleData parses the "_example" block of cm as YAML, with string
// values as in a ConfigMap's data.
func exampleData(t *testing.T, cm *corev1.ConfigMap) map[string]string {
	t.Helper()
	block, ok := cm.Data["_example"]
	if !ok {
		t.Fatalf("ConfigMap %s has no _example block", cm.Name)
	}
	var data map[string]string
	if err := yaml.UnmarshalStrict([]byte(block), &data); err != nil {
		t.Fatalf("ConfigMap %s: parsing _example: %v", cm.Name, err)
	}
	return data
}

func withoutExample(data map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range data {
		if !strings.HasPrefix(k, "_") {
			out[k] = v
		}
	}
	return out
}

func TestKnativeConfigMapsParse(t *testing.T) {
	docs := loadDocuments(t)
	logs := configMap(t, docs, logging.ConfigMapName())
	logConfig, err := logging.NewConfigFromMap(logs.Data)
	if err != nil {
		t.Errorf("config-logging: %v", err)
	} else if _, ok := logConfig.LoggingLevel[controllerComponent]; !ok {
		t.Errorf("config-logging sets no level for the component %s", controllerComponent)
	}
	obs := configMap(t, docs, "config-observability")
	for name, data := range map[string]map[string]string{
		"data": obs.Data, "_example": exampleData(t, obs),
	} {
		if _, err := observability.NewFromMap(withoutExample(data)); err != nil {
			t.Errorf("config-observability %s: %v", name, err)
		}
	}
	le := configMap(t, docs, leaderelection.ConfigMapName())
	for name, data := range map[string]map[string]string{
		"data": le.Data, "_example": exampleData(t, le),
	} {
		if _, err := leaderelection.NewConfigFromMap(withoutExample(data)); err != nil {
			t.Errorf("config-leader-election %s: %v", name, err)
		}
	}
}

func TestHarborGateConfigMap(t *testing.T) {
	docs := loadDocuments(t)
	cm := configMap(t, docs, v1alpha1.DefaultsConfigName)
	wantKeys := []string{
		"core-sink-url", "grace-period", "harbor-url", "max-poll-interval", "on-fail",
		"poll-interval", "scan-timeout", "severity", "webhook-fallback-poll-interval",
	}
	if diff := cmp.Diff(append([]string{"_example"}, wantKeys...), sortedKeys(cm.Data)); diff != "" {
		t.Errorf("data keys (-want +got):\n%s", diff)
	}
	got, err := v1alpha1.NewDefaultsFromConfigMap(cm)
	if err != nil {
		t.Fatalf("NewDefaultsFromConfigMap() error = %v", err)
	}
	if diff := cmp.Diff(v1alpha1.BuiltinDefaults(), got); diff != "" {
		t.Errorf("live keys differ from the built-in defaults (-want +got):\n%s", diff)
	}
	example := exampleData(t, cm)
	if diff := cmp.Diff(wantKeys, sortedKeys(example)); diff != "" {
		t.Errorf("_example keys (-want +got):\n%s", diff)
	}
	if _, err := v1alpha1.NewDefaultsFromMap(example); err != nil {
		t.Errorf("_example does not parse: %v", err)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestNamespacedObjectsInSystemNamespace(t *testing.T) {
	docs := loadDocuments(t)
	for _, d := range docs {
		if !strings.HasPrefix(d.file, "config") {
			continue
		}
		switch obj := d.obj.(type) {
		case *corev1.ServiceAccount, *corev1.ConfigMap, *corev1.Service, *appsv1.Deployment,
			*rbacv1.Role, *rbacv1.RoleBinding:
			ns := obj.(interface{ GetNamespace() string }).GetNamespace()
			if ns != systemNamespace {
				t.Errorf("%s: namespace %q, want %q", d, ns, systemNamespace)
			}
		}
	}
}
