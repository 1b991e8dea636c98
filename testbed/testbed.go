// Package testbed is mesh-in-a-box: a real local Istio-like mesh for meshjoin's tests and demo.
//
// It runs a real kube-apiserver on etcd (issuing and reviewing service-account tokens), creates
// what an Istio install leaves in a cluster (Istio's own CRDs included), runs a real istiod out of
// cluster as the mesh CA (the test mesh's root and intermediate plugged in) and runs real Envoys:
// an AUTO_PASSTHROUGH east-west gateway whose 15443 listener istiod programs from a Gateway
// resource (15012 leads to istiod), and one sidecar per workload that terminates mTLS in front of
// small echo apps. Options.ImitationCA swaps istiod for an in-process imitation. Everything
// listens on loopback; pods and the gateway get their own 127.x.y.z addresses. See
// ../shared/docs/istio-join-protocol.md for the behaviour it copies.
package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// Options change the test mesh. The zero value is the default mesh.
type Options struct {
	TrustDomain        string        // default "cluster.local"
	TrustDomainAliases []string      // accepted by the sidecars too
	MaxCertTTL         time.Duration // the CA refuses longer requests; default 48h
	NoIntermediate     bool          // sign leaves with the root directly
	// ImitationCA runs the in-process CA that imitates istiod (meshca.go) instead of the real
	// istiod, for a test that must make the CA do what istiod cannot be made to do. The test
	// says why at the place it sets this.
	ImitationCA bool
	// ScaleServices adds that many synthetic Services (objects only, no processes) spread over
	// ScaleNamespaces mesh namespaces, for catalogue and TUI scale work.
	ScaleServices, ScaleNamespaces int
	Dir                            string    // where logs and configs go; default a temp dir, removed on Stop
	Log                            io.Writer // progress lines; default none
}

// Testbed is a running test mesh.
type Testbed struct {
	Options
	Dir         string
	TrustDomain string
	// GatewayIP is the east-west gateway's load-balancer address; ports GatewayTLSPort and GatewayCAPort.
	GatewayIP string
	RootPEM   []byte
	CA        *Authority // the mesh CA (root, and the intermediate that signs)
	Workloads []Workload
	// Kubeconfigs of the admin, the developer (docs/rbac.yaml) and a user with no permissions.
	AdminKubeconfig, DeveloperKubeconfig, NoPermsKubeconfig string
	Timings                                                 []Timing

	kube     *kube
	admin    *kubernetes.Clientset
	dyn      dynamic.Interface
	ca       *meshCA // only with ImitationCA
	istiod   *istiod // the mesh CA otherwise
	gateway  *envoyProcess
	sidecars []*envoyProcess
	apps     []*echoApp
	meshYAML []byte // MeshConfig of ConfigMap istio, also istiod's --meshConfig
	ownDir   bool
	stopOnce sync.Once
}

// Timing is how long one part of the start took.
type Timing struct {
	Part     string
	Duration time.Duration
}

// Start brings the whole mesh up and returns when every part answers.
func Start(ctx context.Context, o Options) (_ *Testbed, err error) {
	if o.TrustDomain == "" {
		o.TrustDomain = "cluster.local"
	}
	if o.MaxCertTTL == 0 {
		o.MaxCertTTL = 48 * time.Hour
	}
	tb := &Testbed{Options: o, TrustDomain: o.TrustDomain, Dir: o.Dir}
	if tb.Dir == "" {
		if tb.Dir, err = os.MkdirTemp("", "meshjoin-testbed-"); err != nil {
			return nil, err
		}
		tb.ownDir = true
	} else if err := os.MkdirAll(tb.Dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tb.Stop()
		}
	}()
	step := func(part string, f func() error) error {
		start := time.Now()
		tb.logf("testbed: %s ...", part)
		if err := f(); err != nil {
			return fmt.Errorf("testbed %s: %w", part, err)
		}
		tb.Timings = append(tb.Timings, Timing{part, time.Since(start)})
		return nil
	}

	if err := step("addresses", tb.allocateAddresses); err != nil {
		return nil, err
	}
	if err := step("kube-apiserver and etcd", func() error {
		tb.kube, err = startKube(ctx, tb.Dir)
		if err != nil {
			return err
		}
		if tb.admin, err = tb.kube.clientset(AdminUser); err != nil {
			return err
		}
		tb.dyn, err = dynamic.NewForConfig(tb.kube.restConfig(AdminUser))
		tb.AdminKubeconfig = tb.kube.kubeconfigs[AdminUser]
		tb.DeveloperKubeconfig = tb.kube.kubeconfigs[DeveloperUser]
		tb.NoPermsKubeconfig = tb.kube.kubeconfigs[NoPermsUser]
		return err
	}); err != nil {
		return nil, err
	}
	if err := step("mesh CA material", func() error {
		if tb.CA, err = NewAuthority("meshjoin-testbed", !o.NoIntermediate); err != nil {
			return err
		}
		tb.RootPEM = tb.CA.RootPEM()
		if o.ImitationCA {
			tb.ca, err = startMeshCA(tb.CA, tb.admin, tb.TrustDomain, o.MaxCertTTL, Revision)
		}
		return err
	}); err != nil {
		return nil, err
	}
	if err := step("istio objects", func() error { return installIstio(ctx, tb.admin, tb.dyn, tb) }); err != nil {
		return nil, err
	}
	if !o.ImitationCA {
		if err := step("Gateway resource", func() error { return createEastWestGateway(ctx, tb.dyn, tb.GatewayIP) }); err != nil {
			return nil, err
		}
		if err := step("istiod", func() error {
			tb.istiod, err = newIstiod(istiodConfig{
				dir: tb.Dir, kubeconfig: tb.AdminKubeconfig, meshYAML: tb.meshYAML, authority: tb.CA,
				maxCertTTL: o.MaxCertTTL, clusterID: DefaultClusterID, revision: Revision,
			})
			if err != nil {
				return err
			}
			return tb.istiod.start(ctx)
		}); err != nil {
			return nil, err
		}
	}
	if err := step("workloads", func() error {
		for _, w := range tb.Workloads {
			if err := createWorkload(ctx, tb.admin, tb.dyn, w); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := step("sidecars and echo apps", func() error { return tb.startSidecars(ctx) }); err != nil {
		return nil, err
	}
	if err := step("east-west gateway", func() error { return tb.startGateway(ctx) }); err != nil {
		return nil, err
	}
	if !o.ImitationCA {
		if err := step("istio-ca-root-cert from istiod", func() error { return tb.waitRootConfigMaps(ctx, meshNamespaces()) }); err != nil {
			return nil, err
		}
	}
	if o.ScaleServices > 0 {
		if err := step(fmt.Sprintf("scale: %d services in %d namespaces", o.ScaleServices, max(o.ScaleNamespaces, 1)), func() error {
			return createScale(ctx, tb.admin, o.ScaleServices, max(o.ScaleNamespaces, 1), tb.ownRootPEM())
		}); err != nil {
			return nil, err
		}
	}
	return tb, nil
}

// startGateway starts the east-west gateway Envoy and, with istiod, waits until istiod has
// programmed its 15443 listener.
func (tb *Testbed) startGateway(ctx context.Context) error {
	port, err := freePort("127.0.0.1")
	if err != nil {
		return err
	}
	xds := ""
	if tb.istiod != nil {
		xds = tb.istiod.grpcAddr
	}
	b, err := gatewayBootstrap(tb.GatewayIP, port, tb.Workloads, tb.caBackend(), xds)
	if err != nil {
		return err
	}
	gw, err := startEnvoy(ctx, tb.Dir, "east-west-gateway", b)
	if err != nil {
		return err
	}
	tb.gateway = gw
	if xds == "" {
		return nil
	}
	return tb.waitGatewayProgrammed(ctx)
}

// allocateAddresses picks a free 127.B.0.0/16 block: the gateway at .0.1, sidecars from .1.1 on
// (their pods say 10.244.B.i in cluster data).
// A random B keeps concurrent testbeds (a test run beside `make testbed`) apart.
func (tb *Testbed) allocateAddresses() error {
	for range 50 {
		b := 100 + rand.IntN(100)
		gw := fmt.Sprintf("127.%d.0.1", b)
		l, err := net.Listen("tcp", hostPort(gw, GatewayTLSPort))
		if err != nil {
			continue
		}
		l.Close()
		tb.GatewayIP = gw
		tb.Workloads = defaultWorkloads()
		for i := range tb.Workloads {
			tb.Workloads[i].Addr = fmt.Sprintf("127.%d.1.%d", b, i+1)
			tb.Workloads[i].PodIP = fmt.Sprintf("10.244.%d.%d", b, i+1)
		}
		return nil
	}
	return errors.New("no free 127.x.0.1:15443 found")
}

func (tb *Testbed) startSidecars(ctx context.Context) error {
	trustDomains := append([]string{tb.TrustDomain}, tb.TrustDomainAliases...)
	for _, w := range tb.Workloads {
		if w.OutsideMesh {
			continue
		}
		apps := map[uint32]*echoApp{}
		for _, p := range w.Ports {
			app, err := startEcho(w.Key(), p.Number, p.Protocol)
			if err != nil {
				return err
			}
			tb.apps = append(tb.apps, app)
			apps[p.Number] = app
		}
		cert, err := tb.CA.NewKeyPair(LeafOptions{
			URIs: []string{SPIFFEID(tb.TrustDomain, w.Namespace, w.presentedSA())}, Server: true, Client: true,
		})
		if err != nil {
			return err
		}
		port, err := freePort("127.0.0.1")
		if err != nil {
			return err
		}
		b, err := sidecarBootstrap(w, port, cert, tb.RootPEM, trustDomains, apps)
		if err != nil {
			return err
		}
		sc, err := startEnvoy(ctx, tb.Dir, "sidecar-"+w.Key(), b)
		if err != nil {
			return err
		}
		tb.sidecars = append(tb.sidecars, sc)
	}
	return nil
}

// Stop ends every process and removes what Start wrote (unless Options.Dir was given).
func (tb *Testbed) Stop() {
	tb.stopOnce.Do(func() {
		tb.gateway.stop()
		for _, s := range tb.sidecars {
			s.stop()
		}
		for _, a := range tb.apps {
			a.stop()
		}
		tb.ca.stop()
		tb.istiod.stop()
		tb.kube.stop()
		if tb.ownDir {
			os.RemoveAll(tb.Dir)
		}
	})
}

func (p *envoyProcess) stop() {
	if p != nil {
		p.process.stop()
	}
}

func (tb *Testbed) logf(format string, args ...any) {
	if tb.Log != nil {
		fmt.Fprintf(tb.Log, format+"\n", args...)
	}
}

// GatewayAddr is the east-west gateway's mTLS passthrough address (15443).
func (tb *Testbed) GatewayAddr() string { return hostPort(tb.GatewayIP, GatewayTLSPort) }

// CAAddr is the mesh CA's address through the gateway (15012).
func (tb *Testbed) CAAddr() string { return hostPort(tb.GatewayIP, GatewayCAPort) }

// CASigned counts the certificates the mesh CA has signed: istiod's own count from its
// monitoring port (summed over its restarts), or the imitation's. A test fails if istiod's
// metrics cannot be read.
func (tb *Testbed) CASigned() int64 {
	if tb.ca != nil {
		return tb.ca.signed.Load()
	}
	n, err := tb.istiod.signed()
	if err != nil {
		panic(fmt.Sprintf("testbed: read istiod's CSR metrics: %v", err))
	}
	return n
}

// Admin is a clientset with full rights.
func (tb *Testbed) Admin() kubernetes.Interface { return tb.admin }

// Dynamic is a dynamic client with full rights.
func (tb *Testbed) Dynamic() dynamic.Interface { return tb.dyn }

// RESTConfig is the connection of one of AdminUser, DeveloperUser or NoPermsUser.
func (tb *Testbed) RESTConfig(user string) *rest.Config { return tb.kube.restConfig(user) }

// Workload returns the workload called "name.namespace"; it panics on an unknown one (a test bug).
func (tb *Testbed) Workload(key string) Workload {
	for _, w := range tb.Workloads {
		if w.Key() == key {
			return w
		}
	}
	panic("testbed: no workload " + key)
}

// Token creates a service-account token as the admin (tests use it to play a client).
func (tb *Testbed) Token(ctx context.Context, namespace, sa string, audiences ...string) (string, error) {
	tr, err := tb.admin.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return tr.Status.Token, nil
}

// LogFile is the path of a component's log ("kube-apiserver", "east-west-gateway", "sidecar-ratings.bookinfo", ...).
func (tb *Testbed) LogFile(component string) string { return filepath.Join(tb.Dir, component+".log") }
