package testbed

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Identity and environment of the testbed's istiod, as real-components.md describes an
// out-of-cluster istiod. The revision is the one the payments namespace names, so istiod's
// serving certificate is valid for istiod-canary.istio-system.svc as well as istiod.istio-system.svc.
const (
	istiodPodName = "istiod-local"
	// successMetric counts the certificates istiod's CA signed (on its monitoring port).
	successMetric = "citadel_server_success_cert_issuance_count"
)

// istiod is a real istiod (pilot-discovery) running out of cluster against the testbed's
// kube-apiserver: the mesh CA, with the testbed's root and intermediate as Istio's plugged-in
// CA files, and the xDS server. Every listener is on 127.0.0.1 with a port of its own.
// stop and start may be called from any goroutine; they are serialised.
type istiod struct {
	dir, bin                 string
	args, env                []string
	secureAddr, grpcAddr     string
	httpAddr, monitoringAddr string
	roots                    *x509.CertPool
	mu                       sync.Mutex
	proc                     *process
	signedBeforeRestarts     int64 // certificates signed by earlier runs (the counter restarts with istiod)
}

// istiodConfig is what newIstiod needs from the testbed.
type istiodConfig struct {
	dir                 string // the testbed's directory; istiod gets a subdirectory
	kubeconfig          string // the admin's
	meshYAML            []byte // MeshConfig, the same as ConfigMap istio
	authority           *Authority
	maxCertTTL          time.Duration
	clusterID, revision string
}

func newIstiod(c istiodConfig) (*istiod, error) {
	bin, err := IstiodBinary()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.dir, "istiod") // its files; it runs in c.dir and logs to c.dir/istiod.log
	caDir := filepath.Join(dir, "cacerts")
	if err := os.MkdirAll(caDir, 0o700); err != nil {
		return nil, err
	}
	a := c.authority
	// Plugged-in CA files: the signer (intermediate, or the root without one), its key, the
	// chain from the signer up to the root, and the root.
	keyDER, err := x509.MarshalPKCS8PrivateKey(a.SignerKey)
	if err != nil {
		return nil, err
	}
	var chain []byte
	for _, cert := range a.trustChain {
		chain = append(chain, certPEM(cert)...)
	}
	files := map[string][]byte{
		filepath.Join(caDir, "ca-cert.pem"):    certPEM(a.Signer),
		filepath.Join(caDir, "ca-key.pem"):     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		filepath.Join(caDir, "cert-chain.pem"): chain,
		filepath.Join(caDir, "root-cert.pem"):  a.RootPEM(),
		filepath.Join(dir, "mesh.yaml"):        c.meshYAML,
	}
	for path, b := range files {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, err
		}
	}
	d := &istiod{dir: c.dir, bin: bin, roots: a.Pool()}
	for _, addr := range []*string{&d.secureAddr, &d.grpcAddr, &d.httpAddr, &d.monitoringAddr} {
		port, err := freePort("127.0.0.1")
		if err != nil {
			return nil, err
		}
		*addr = hostPort("127.0.0.1", port)
	}
	webhookPort, err := freePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	d.args = []string{"discovery",
		"--kubeconfig", c.kubeconfig,
		"--meshConfig", filepath.Join(dir, "mesh.yaml"),
		"--networksConfig", filepath.Join(dir, "mesh-networks.yaml"), // absent: no extra networks
		"--secureGRPCAddr", d.secureAddr,
		"--grpcAddr", d.grpcAddr,
		"--httpAddr", d.httpAddr,
		"--monitoringAddr", d.monitoringAddr,
		"--httpsAddr", hostPort("127.0.0.1", webhookPort),
		"--ctrlz_port", "0", "--ctrlz_address", "127.0.0.1", // a free port: several testbeds run at once
		"--log_as_json=false",
	}
	d.env = []string{
		"POD_NAMESPACE=" + IstioSystem,
		"POD_NAME=" + istiodPodName,
		"REVISION=" + c.revision,
		"CLUSTER_ID=" + c.clusterID,
		"JWT_POLICY=third-party-jwt",
		"PILOT_CERT_PROVIDER=istiod",
		"ROOT_CA_DIR=" + caDir,
		"MAX_WORKLOAD_CERT_TTL=" + c.maxCertTTL.String(),
		// No sidecar injection: nothing here is injected, and istiod would need the injector's config.
		"INJECT_ENABLED=false",
		// The gateway runs the stock Envoy, which has no istio.metadata_exchange filter.
		"PILOT_ENABLE_METADATA_EXCHANGE=false",
		// The testbed has no Gateway API CRDs.
		"PILOT_ENABLE_GATEWAY_API=false",
		"PILOT_ENABLE_ALPHA_GATEWAY_API=false",
	}
	return d, nil
}

// start runs istiod with the extra environment variables (a test's variation) and waits until
// its CA answers TLS with a certificate chaining to the mesh root.
func (d *istiod) start(ctx context.Context, extraEnv ...string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc != nil {
		return errors.New("istiod is already running")
	}
	p, err := startProcessIn(d.dir, "istiod", append(append([]string(nil), d.env...), extraEnv...), d.bin, d.args...)
	if err != nil {
		return err
	}
	d.proc = p
	err = waitFor(ctx, p, "istiod", func() error {
		if err := httpOK("http://" + d.httpAddr + "/ready"); err != nil {
			return err
		}
		return d.caAnswers()
	})
	if err != nil {
		d.proc.stop()
		d.proc = nil
	}
	return err
}

// caAnswers completes a TLS handshake with istiod's CA port as meshjoin does.
func (d *istiod) caAnswers() error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", d.secureAddr, &tls.Config{
		RootCAs: d.roots, ServerName: CAServerName, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"},
	})
	if err != nil {
		return err
	}
	return conn.Close()
}

// stop ends istiod (SIGTERM, then SIGKILL); stopping a stopped istiod does nothing.
func (d *istiod) stop() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc == nil {
		return
	}
	if n, err := d.metric(successMetric); err == nil {
		d.signedBeforeRestarts += n
	}
	d.proc.stop()
	d.proc = nil
}

// signed is how many certificates istiod's CA has signed since the testbed started.
func (d *istiod) signed() (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc == nil {
		return d.signedBeforeRestarts, nil
	}
	n, err := d.metric(successMetric)
	return d.signedBeforeRestarts + n, err
}

// metric reads one counter from istiod's monitoring port (Prometheus text format; the
// OpenTelemetry exporter may add a _total suffix). A counter not yet incremented is 0.
func (d *istiod) metric(name string) (int64, error) {
	resp, err := http.Get("http://" + d.monitoringAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("istiod /metrics: %s", resp.Status)
	}
	return sumMetric(resp.Body, name)
}

// sumMetric adds up every sample of the counter name (all label sets) in Prometheus text.
func sumMetric(r io.Reader, name string) (int64, error) {
	var total float64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		metric, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		base, _, _ := strings.Cut(metric, "{")
		if base != name && base != name+"_total" {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: %w", line, err)
		}
		total += v
	}
	return int64(total), sc.Err()
}
