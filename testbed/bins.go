package testbed

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Pinned versions of the real components; hack/versions.sh holds the same numbers for the scripts.
const (
	EnvoyVersion = "1.40.0"
	KubeVersion  = "1.36.3"
	// IstioVersion is the istio.io/istio module version istiod (pilot-discovery) and its CRDs come from.
	IstioVersion = "v0.0.0-20260827124520-eed52ebb66ad"
	// EnvoyImage is the local image `make deps` builds from the pinned Envoy binary.
	EnvoyImage = "meshjoin.local/envoy:" + EnvoyVersion
)

// ErrMissingPrerequisite marks a real component that is not installed; `make deps` installs it.
var ErrMissingPrerequisite = errors.New("missing prerequisite (run `make deps`)")

// CacheDir is where `make deps` keeps built and downloaded components.
func CacheDir() string {
	if dir := os.Getenv("MESHJOIN_CACHE"); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "meshjoin-cache")
	}
	return filepath.Join(home, ".cache", "meshjoin")
}

// EnvoyBinary finds the pinned Envoy: $MESHJOIN_ENVOY, the cache, then PATH.
func EnvoyBinary() (string, error) {
	return findBinary("MESHJOIN_ENVOY", filepath.Join(CacheDir(), "envoy-"+EnvoyVersion, "envoy"), "envoy")
}

// KubeAPIServerBinary finds kube-apiserver: $MESHJOIN_KUBE_APISERVER, the cache, then PATH.
func KubeAPIServerBinary() (string, error) {
	return findBinary("MESHJOIN_KUBE_APISERVER", filepath.Join(CacheDir(), "kube-apiserver-v"+KubeVersion), "kube-apiserver")
}

// IstiodBinary finds pilot-discovery (istiod): $MESHJOIN_ISTIOD, the cache, then PATH.
func IstiodBinary() (string, error) {
	return findBinary("MESHJOIN_ISTIOD", filepath.Join(CacheDir(), "pilot-discovery-"+IstioVersion), "pilot-discovery")
}

// IstioCRDsFile is Istio's crd-all.gen.yaml of IstioVersion, which `make deps` caches beside istiod.
func IstioCRDsFile() (string, error) {
	path := filepath.Join(CacheDir(), "istio-crds-"+IstioVersion+".yaml")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("Istio CRDs %s: %w", path, ErrMissingPrerequisite)
	}
	return path, nil
}

// EtcdBinary finds etcd: $MESHJOIN_ETCD, then PATH (Debian's etcd-server).
func EtcdBinary() (string, error) {
	return findBinary("MESHJOIN_ETCD", "", "etcd")
}

func findBinary(envVar, cached, name string) (string, error) {
	if p := os.Getenv(envVar); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("%s=%s is not an executable: %w", envVar, p, ErrMissingPrerequisite)
	}
	if cached != "" && isExecutable(cached) {
		return cached, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found (looked at $%s, %s and PATH): %w", name, envVar, cached, ErrMissingPrerequisite)
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
