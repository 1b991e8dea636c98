package mesh

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/meshjoin/meshjoin/certs"
	"istio.io/api/annotation"
	"istio.io/api/label"
)

// Istio's label and annotation keys, from istio.io/api (never retyped).
var (
	labelNetwork       = label.TopologyNetwork.Name
	labelGatewayPort   = label.NetworkingGatewayPort.Name
	labelRevision      = label.IoIstioRev.Name
	labelDataplaneMode = label.IoIstioDataplaneMode.Name
	labelTLSMode       = label.SecurityTlsMode.Name
	labelInject        = label.SidecarInject.Name
	annotationInject   = annotation.SidecarInject.Name
	annotationStatus   = annotation.SidecarStatus.Name
	annotationKubeSAs  = annotation.AlphaKubernetesServiceAccounts.Name
	annotationCanonSAs = annotation.AlphaCanonicalServiceAccounts.Name
	annotationExportTo = annotation.NetworkingExportTo.Name
)

// Defaults and the names Istio gives to things.
const (
	DefaultTrustDomain   = "cluster.local"
	DefaultRootNamespace = "istio-system"
	DefaultClusterDomain = "cluster.local"

	labelInjection        = "istio-injection" // the namespace label, not in istio.io/api's label package
	configMapRoots        = "istio-ca-root-cert"
	configMapRootsKey     = "root-cert.pem"
	configMapInjector     = "istio-sidecar-injector"
	configMapInjectorKey  = "values"
	configMapMesh         = "istio"
	configMapMeshKey      = "mesh"
	defaultServiceAccount = "default"
)

// Config is what meshjoin needs to know about the mesh as a whole.
type Config struct {
	TrustDomain string   // meshConfig.trustDomain; DefaultTrustDomain when unset
	Aliases     []string // meshConfig.trustDomainAliases
	RootsPEM    []byte   // the mesh root bundle (ConfigMap istio-ca-root-cert), certificates only, re-encoded
	Network     string   // the mesh network of the control plane, "" when single-network
	CAAddress   string   // values.global.caAddress of the sidecar injector, if set
	ClusterName string   // values.global.multiCluster.clusterName: what istiod calls this cluster, if set
	// ClusterCAAddress is this cluster's istiod as its east-west gateway exposes it (host:15012),
	// filled in by whoever found the gateway; "" when unknown.
	ClusterCAAddress string
	Revision         string

	RootNamespace  string   // Istio's root namespace, where istiod and the gateway live
	RootsNamespace string   // the namespace the root bundle was read from
	Warnings       []string // optional settings that could not be read, hostile values ignored
}

// ConfigOptions says where to look.
type ConfigOptions struct {
	Revision       string // istiod revision; "" or "default" for the default one
	RootNamespace  string // default istio-system
	RootsNamespace string // where to read istio-ca-root-cert; default: the first mesh namespace, else RootNamespace
}

// LoadConfig reads the mesh settings from the places istiod keeps them
// (istio-join-protocol.md section 7). The mesh ConfigMap and the root bundle are required;
// the network and CA address are optional and their absence is not an error.
func LoadConfig(ctx context.Context, client kubernetes.Interface, opts ConfigOptions) (*Config, error) {
	root := opts.RootNamespace
	if root == "" {
		root = DefaultRootNamespace
	}
	rev := opts.Revision
	if rev == "default" {
		rev = ""
	}
	cfg := &Config{Revision: opts.Revision, RootNamespace: root}

	// Trust domain and aliases.
	meshName := revisioned(configMapMesh, rev)
	cm, err := client.CoreV1().ConfigMaps(root).Get(ctx, meshName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		hint := "is Istio installed? if it runs in another namespace, name it with its root namespace option"
		if rev != "" {
			hint = fmt.Sprintf("is revision %q installed? `kubectl get configmap -n %s -l istio.io/rev` lists the revisions", rev, root)
		}
		return nil, fmt.Errorf("mesh config: ConfigMap %s/%s not found: %s", root, meshName, hint)
	}
	if err != nil {
		return nil, fmt.Errorf("mesh config: %w", apiError(err, "get", "configmaps", root, meshName))
	}
	td, aliases, warnings, err := parseMeshConfig(cm.Data[configMapMeshKey])
	if err != nil {
		return nil, fmt.Errorf("mesh config: ConfigMap %s/%s key %q: %w", root, meshName, configMapMeshKey, err)
	}
	cfg.TrustDomain, cfg.Aliases = td, aliases
	cfg.Warnings = append(cfg.Warnings, warnings...)

	// Network: the label on the root namespace wins over the injector values, as in istiod.
	if ns, err := client.CoreV1().Namespaces().Get(ctx, root, metav1.GetOptions{}); err == nil {
		cfg.Network = ns.Labels[labelNetwork]
	} else if !apierrors.IsNotFound(err) {
		cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("cannot read namespace %s for its network label: %v", root, err))
	}
	if err := loadInjectorValues(ctx, client, root, rev, cfg); err != nil {
		return nil, err
	}

	// Root bundle: istiod writes the same one into every namespace it watches, so when the
	// namespace asked for has none, the first mesh namespace and then the root namespace do.
	candidates := []string{opts.RootsNamespace}
	if opts.RootsNamespace == "" {
		candidates = nil
	}
	if first := firstMeshNamespace(ctx, client, rev); first != "" {
		candidates = append(candidates, first)
	}
	candidates = append(candidates, root)
	var missing []string
	for _, ns := range candidates {
		if slices.Contains(missing, ns) {
			continue
		}
		roots, err := readRoots(ctx, client, ns)
		if apierrors.IsNotFound(err) {
			missing = append(missing, ns)
			continue
		}
		if err != nil {
			return nil, err
		}
		if opts.RootsNamespace != "" && ns != opts.RootsNamespace {
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("no ConfigMap %s in namespace %s: mesh root bundle read from namespace %s", configMapRoots, opts.RootsNamespace, ns))
		}
		cfg.RootsPEM, cfg.RootsNamespace = roots, ns
		return cfg, nil
	}
	return nil, fmt.Errorf("mesh root bundle: ConfigMap %s not found in namespace %s (istiod writes it into every namespace it watches: is istiod running?)",
		configMapRoots, strings.Join(missing, ", "))
}

func revisioned(name, rev string) string {
	if rev == "" {
		return name
	}
	return name + "-" + rev
}

// meshConfigFields are the few fields of Istio's MeshConfig meshjoin reads.
type meshConfigFields struct {
	TrustDomain        string   `json:"trustDomain"`
	TrustDomainAliases []string `json:"trustDomainAliases"`
}

// parseMeshConfig reads the trust domain and its aliases from the mesh ConfigMap's YAML.
func parseMeshConfig(data string) (td string, aliases, warnings []string, err error) {
	var mc meshConfigFields
	if err := yaml.Unmarshal([]byte(data), &mc); err != nil {
		return "", nil, nil, fmt.Errorf("parse: %w", err)
	}
	td = strings.TrimSpace(mc.TrustDomain)
	if td == "" {
		td = DefaultTrustDomain
	}
	if !validTrustDomain(td) {
		return "", nil, nil, fmt.Errorf("trustDomain %s is not a valid SPIFFE trust domain", quoteShort(td))
	}
	seen := map[string]bool{td: true}
	for _, a := range mc.TrustDomainAliases {
		a = strings.TrimSpace(a)
		switch {
		case !validTrustDomain(a):
			warnings = append(warnings, fmt.Sprintf("trust domain alias %s ignored: not a valid SPIFFE trust domain", quoteShort(a)))
		case !seen[a]:
			seen[a] = true
			aliases = append(aliases, a)
		}
	}
	return td, aliases, warnings, nil
}

// A SPIFFE trust domain: lower-case letters, digits, dots, dashes and underscores.
var trustDomainRE = regexp.MustCompile(`^[a-z0-9._-]{1,255}$`)

func validTrustDomain(s string) bool { return trustDomainRE.MatchString(s) }

// injectorValues are the few Helm values meshjoin reads from the sidecar injector.
type injectorValues struct {
	Global struct {
		Network      string `json:"network"`
		CAAddress    string `json:"caAddress"`
		MultiCluster struct {
			ClusterName string `json:"clusterName"`
		} `json:"multiCluster"`
	} `json:"global"`
}

// loadInjectorValues reads values.global.network (unless the namespace label set it) and
// values.global.caAddress from istio-sidecar-injector[-<rev>]. Absence is not an error.
func loadInjectorValues(ctx context.Context, client kubernetes.Interface, root, rev string, cfg *Config) error {
	names := []string{configMapInjector}
	if rev != "" {
		names = []string{revisioned(configMapInjector, rev), configMapInjector}
	}
	for _, name := range names {
		cm, err := client.CoreV1().ConfigMaps(root).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if apierrors.IsForbidden(err) {
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("cannot read ConfigMap %s/%s (network, CA address): %s",
				root, name, (&ErrForbidden{Verb: "get", Resource: "configmaps", Namespace: root, Name: name}).CanI()))
			return nil
		}
		if err != nil {
			return fmt.Errorf("mesh config: %w", apiError(err, "get", "configmaps", root, name))
		}
		raw := cm.Data[configMapInjectorKey]
		if raw == "" {
			return nil
		}
		var v injectorValues
		if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("ConfigMap %s/%s key %q ignored: %v", root, name, configMapInjectorKey, err))
			return nil
		}
		if cfg.Network == "" && v.Global.Network != "" {
			if len(validation.IsValidLabelValue(v.Global.Network)) == 0 {
				cfg.Network = v.Global.Network
			} else {
				cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("values.global.network %s ignored: not a valid label value", quoteShort(v.Global.Network)))
			}
		}
		cfg.ClusterName = strings.TrimSpace(v.Global.MultiCluster.ClusterName)
		if a := v.Global.CAAddress; a != "" {
			if validHostPort(a) {
				cfg.CAAddress = a
			} else {
				cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("values.global.caAddress %s ignored: not host:port", quoteShort(a)))
			}
		}
		return nil
	}
	return nil
}

func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || port == "" {
		return false
	}
	if net.ParseIP(host) == nil && len(validation.IsDNS1123Subdomain(strings.ToLower(host))) > 0 {
		return false
	}
	return len(validation.IsValidPortNum(atoiOr(port, -1))) == 0
}

// firstMeshNamespace is the alphabetically first namespace with sidecar injection, or "" when
// there is none or namespaces cannot be listed.
func firstMeshNamespace(ctx context.Context, client kubernetes.Interface, rev string) string {
	selectors := []string{labelInjection + "=enabled", labelRevision + ",!" + labelInjection}
	if rev != "" {
		selectors = []string{labelRevision + "=" + rev + ",!" + labelInjection}
	}
	var names []string
	for _, sel := range selectors {
		list, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return ""
		}
		for _, ns := range list.Items {
			names = append(names, ns.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return names[0]
}

// readRoots reads and checks the root bundle. A NotFound error is returned as it is, so the
// caller can try another namespace.
func readRoots(ctx context.Context, client kubernetes.Interface, ns string) ([]byte, error) {
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, configMapRoots, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("mesh root bundle: %w", apiError(err, "get", "configmaps", ns, configMapRoots))
	}
	roots, err := parseRoots([]byte(cm.Data[configMapRootsKey]))
	if err != nil {
		return nil, fmt.Errorf("mesh root bundle: ConfigMap %s/%s key %q: %w", ns, configMapRoots, configMapRootsKey, err)
	}
	return roots, nil
}

// parseRoots keeps the certificates of a PEM bundle (all of them: during a root rotation
// there are several) and re-encodes them; anything else in the data is dropped.
func parseRoots(data []byte) ([]byte, error) {
	roots, err := certs.ParseCertificatesPEM(data)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, c := range roots {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out, nil
}
