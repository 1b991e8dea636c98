package testbed

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// User names of the testbed's kube-apiserver. The developer is in the group that docs/rbac.yaml binds.
const (
	AdminUser      = "admin"
	DeveloperUser  = "developer"
	DeveloperGroup = "meshjoin-developers"
	NoPermsUser    = "nobody"
	clusterName    = "meshjoin-testbed"
	serviceIPRange = "10.96.0.0/16"
	saIssuer       = "https://kubernetes.default.svc.cluster.local"
)

// kube is etcd plus kube-apiserver on loopback, with static-token users.
type kube struct {
	etcd *process
	// apiserver is replaced by restartAPIServer; mu guards it.
	mu        sync.Mutex
	apiserver *process
	// startAPIServer starts kube-apiserver with the testbed's flags (same port, same etcd);
	// apiReady says whether it serves.
	startAPIServer func() (*process, error)
	apiReady       func() error
	url            string
	caPEM          []byte
	tokens         map[string]string // user → bearer token
	kubeconfigs    map[string]string // user → kubeconfig path
}

func startKube(ctx context.Context, dir string) (*kube, error) {
	etcdBin, err := EtcdBinary()
	if err != nil {
		return nil, err
	}
	apiBin, err := KubeAPIServerBinary()
	if err != nil {
		return nil, err
	}
	k := &kube{tokens: map[string]string{}, kubeconfigs: map[string]string{}}

	// etcd's data lives in memory when /dev/shm exists: faster, and gone with the machine.
	dataParent := dir
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		dataParent = "/dev/shm"
	}
	dataDir, err := os.MkdirTemp(dataParent, "meshjoin-etcd-")
	if err != nil {
		return nil, err
	}
	clientPort, err := freePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	peerPort, err := freePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	clientURL := "http://" + hostPort("127.0.0.1", clientPort)
	peerURL := "http://" + hostPort("127.0.0.1", peerPort)
	k.etcd, err = startProcess(dir, "etcd", etcdBin,
		"--name=testbed", "--data-dir="+dataDir,
		"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=testbed="+peerURL, "--log-level=warn")
	if err != nil {
		return nil, err
	}
	go func() { <-k.etcd.done; os.RemoveAll(dataDir) }()

	// Serving certificate and service-account signing key, made fresh for every testbed.
	kubeCA, err := NewAuthority("kube-apiserver", false)
	if err != nil {
		return nil, err
	}
	serving, err := kubeCA.NewKeyPair(LeafOptions{DNSNames: []string{"localhost", "kubernetes.default.svc"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})
	if err != nil {
		return nil, err
	}
	saKey, err := newKey()
	if err != nil {
		return nil, err
	}
	saDER, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"apiserver.crt": serving.ChainPEM(),
		"apiserver.key": serving.KeyPEM(),
		"sa.key":        pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: saDER}),
		"sa.pub":        pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER}),
	}
	var tokensCSV string
	for _, u := range []struct{ name, groups string }{
		{AdminUser, "system:masters"},
		{DeveloperUser, DeveloperGroup},
		{NoPermsUser, ""},
	} {
		tok := randomToken()
		k.tokens[u.name] = tok
		tokensCSV += fmt.Sprintf("%s,%s,%s,%q\n", tok, u.name, u.name, u.groups)
	}
	files["tokens.csv"] = []byte(tokensCSV)
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	k.caPEM = kubeCA.RootPEM()

	if err := waitFor(ctx, k.etcd, "etcd", func() error { return httpOK(clientURL + "/health") }); err != nil {
		return nil, err
	}

	port, err := freePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	k.url = "https://" + hostPort("127.0.0.1", port)
	apiArgs := []string{
		"--etcd-servers=" + clientURL,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
		"--advertise-address=127.0.0.1",
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file=" + filepath.Join(dir, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(dir, "apiserver.key"),
		"--service-cluster-ip-range=" + serviceIPRange,
		"--service-account-issuer=" + saIssuer,
		"--service-account-key-file=" + filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--authorization-mode=RBAC",
		"--token-auth-file=" + filepath.Join(dir, "tokens.csv"),
		"--enable-priority-and-fairness=false",
		"--max-requests-inflight=2000", "--max-mutating-requests-inflight=1000",
		"--profiling=false", "--v=0"}
	k.startAPIServer = func() (*process, error) { return startProcess(dir, "kube-apiserver", apiBin, apiArgs...) }
	k.apiserver, err = k.startAPIServer()
	if err != nil {
		k.stop()
		return nil, err
	}
	admin := k.restConfig(AdminUser)
	rt, err := rest.TransportFor(admin)
	if err != nil {
		k.stop()
		return nil, err
	}
	ready := func() error {
		resp, err := (&http.Client{Transport: rt}).Get(k.url + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	}
	k.apiReady = ready
	if err := waitFor(ctx, k.apiserver, "kube-apiserver", ready); err != nil {
		k.stop()
		return nil, err
	}
	for user := range k.tokens {
		path := filepath.Join(dir, "kubeconfig-"+user)
		if err := k.writeKubeconfig(path, user); err != nil {
			k.stop()
			return nil, err
		}
		k.kubeconfigs[user] = path
	}
	return k, nil
}

func (k *kube) restConfig(user string) *rest.Config {
	return &rest.Config{
		Host:            k.url,
		BearerToken:     k.tokens[user],
		TLSClientConfig: rest.TLSClientConfig{CAData: k.caPEM},
		QPS:             1000,
		Burst:           2000,
		UserAgent:       "meshjoin-testbed",
	}
}

func (k *kube) clientset(user string) (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(k.restConfig(user))
}

func (k *kube) writeKubeconfig(path, user string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[clusterName] = &clientcmdapi.Cluster{Server: k.url, CertificateAuthorityData: k.caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: k.tokens[user]}
	ctxName := user + "@" + clusterName
	cfg.Contexts[ctxName] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = ctxName
	return clientcmd.WriteToFile(*cfg, path)
}

func (k *kube) stop() {
	if k == nil {
		return
	}
	k.stopAPIServer()
	k.etcd.stop()
}

// stopAPIServer stops kube-apiserver (etcd keeps running); stopping it twice does nothing.
func (k *kube) stopAPIServer() {
	k.mu.Lock()
	p := k.apiserver
	k.apiserver = nil
	k.mu.Unlock()
	p.stop()
}

// restartAPIServer starts a stopped kube-apiserver again with the same flags and returns
// once it is ready; a running one is left as it is.
func (k *kube) restartAPIServer(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.apiserver != nil {
		return nil
	}
	p, err := k.startAPIServer()
	if err != nil {
		return err
	}
	if err := waitFor(ctx, p, "kube-apiserver", k.apiReady); err != nil {
		p.stop()
		return err
	}
	k.apiserver = p
	return nil
}

func httpOK(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
