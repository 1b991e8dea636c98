package testbed

import "fmt"

// Port protocols of the testbed's workloads (named the way Istio reads port names).
const (
	ProtocolHTTP = "http"
	ProtocolGRPC = "grpc"
	ProtocolTCP  = "tcp"
)

// ClusterDomain is the Kubernetes cluster domain; the trust domain is separate and configurable.
const ClusterDomain = "cluster.local"

// Port is one port of a workload's Service (or ServiceEntry).
type Port struct {
	Name       string // Istio reads the protocol from this prefix
	Number     uint32 // service port: what the SNI and the client use
	TargetPort uint32 // where the sidecar listens on the pod's address
	Protocol   string
}

// Workload is one service of the test mesh: Kubernetes objects, a sidecar Envoy and echo apps.
type Workload struct {
	Name, Namespace string
	ServiceAccount  string
	// PresentedServiceAccount, when set, is what the sidecar's certificate says instead of
	// ServiceAccount: a destination that is not who the cluster says it is.
	PresentedServiceAccount string
	// ExtraServiceAccounts go into the alpha.istio.io/kubernetes-serviceaccounts annotation.
	ExtraServiceAccounts []string
	Ports                []Port
	Permissive           bool   // PERMISSIVE mTLS: the mTLS chain is chosen by Istio ALPN, plaintext is accepted
	ServiceEntryHost     string // set for a MESH_INTERNAL ServiceEntry instead of a Service
	OutsideMesh          bool   // in a namespace without injection: no sidecar, not behind the gateway
	// PodIP is the pod's address in cluster data (kube-apiserver refuses loopback endpoints);
	// nothing dials it. Addr is the loopback address where the sidecar really listens.
	PodIP string
	Addr  string
}

// Key is "name.namespace", how users name a service.
func (w Workload) Key() string { return w.Name + "." + w.Namespace }

// Host is the FQDN used in the gateway's SNI.
func (w Workload) Host() string {
	if w.ServiceEntryHost != "" {
		return w.ServiceEntryHost
	}
	return fmt.Sprintf("%s.%s.svc.%s", w.Name, w.Namespace, ClusterDomain)
}

// SNI is what a client sends to the east-west gateway for this workload's port.
func (w Workload) SNI(port uint32) string {
	return fmt.Sprintf("outbound_.%d_._.%s", port, w.Host())
}

// Port returns the port with the given service port number.
func (w Workload) Port(number uint32) (Port, bool) {
	for _, p := range w.Ports {
		if p.Number == number {
			return p, true
		}
	}
	return Port{}, false
}

func (w Workload) presentedSA() string {
	if w.PresentedServiceAccount != "" {
		return w.PresentedServiceAccount
	}
	return w.ServiceAccount
}

// Namespaces of the test mesh and what marks them.
const (
	NamespaceBookinfo = "bookinfo" // istio-injection=enabled
	NamespacePayments = "payments" // istio.io/rev=<revision>
	NamespaceDev      = "dev"      // the developer's identities: service accounts alice and bob
	NamespaceLegacy   = "legacy"   // outside the mesh
	Revision          = "canary"
)

// DeveloperIdentity is the service account docs/rbac.yaml lets the developer user take tokens for.
var DeveloperIdentity = struct{ Namespace, ServiceAccount string }{NamespaceDev, "alice"}

// defaultWorkloads is the fixed catalogue of the test mesh.
func defaultWorkloads() []Workload {
	http := func(name string, number, target uint32) Port {
		return Port{Name: name, Number: number, TargetPort: target, Protocol: ProtocolHTTP}
	}
	return []Workload{
		{Name: "productpage", Namespace: NamespaceBookinfo, ServiceAccount: "bookinfo-productpage", Permissive: true,
			Ports: []Port{http("http", 9080, 9080)}},
		{Name: "ratings", Namespace: NamespaceBookinfo, ServiceAccount: "bookinfo-ratings",
			Ports: []Port{http("http", 9080, 9080)}},
		{Name: "reviews", Namespace: NamespaceBookinfo, ServiceAccount: "bookinfo-reviews",
			ExtraServiceAccounts: []string{"bookinfo-reviews-v2"},
			Ports:                []Port{http("http", 9080, 9080), http("http-admin", 9081, 9091)}},
		{Name: "web", Namespace: NamespaceBookinfo, ServiceAccount: "web",
			Ports: []Port{http("http", 80, 8080)}},
		{Name: "imposter", Namespace: NamespaceBookinfo, ServiceAccount: "imposter", PresentedServiceAccount: "not-imposter",
			Ports: []Port{http("http", 9080, 9080)}},
		{Name: "ledger", Namespace: NamespacePayments, ServiceAccount: "ledger",
			Ports: []Port{{Name: "grpc", Number: 7070, TargetPort: 7070, Protocol: ProtocolGRPC}}},
		{Name: "db", Namespace: NamespacePayments, ServiceAccount: "db",
			Ports: []Port{{Name: "tcp-db", Number: 3306, TargetPort: 3306, Protocol: ProtocolTCP}}},
		{Name: "inventory", Namespace: NamespacePayments, ServiceAccount: "inventory", ServiceEntryHost: "inventory.mesh.internal",
			Ports: []Port{http("http", 8000, 8000)}},
		{Name: "legacy-api", Namespace: NamespaceLegacy, ServiceAccount: "legacy-api", OutsideMesh: true,
			Ports: []Port{http("http", 8080, 8080)}},
	}
}
