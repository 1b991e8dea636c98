package mesh

// Kind says where a Service comes from.
type Kind string

const (
	KindService      Kind = "Service"      // a Kubernetes Service
	KindServiceEntry Kind = "ServiceEntry" // an Istio ServiceEntry
)

// Port is one port of a service: the service port (not the target port), which is the number
// in the gateway's SNI outbound_.<port>_._.<host>.
type Port struct {
	Name     string   `json:"name,omitempty"`
	Number   uint32   `json:"number"`
	Protocol Protocol `json:"protocol"`
}

// Service is one destination in the catalogue. Values are snapshots: the slices are shared
// between snapshots and must not be modified.
type Service struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Kind      Kind   `json:"kind"`
	// Hosts are the FQDNs: <name>.<namespace>.svc.<clusterDomain> for a Service, the declared
	// (valid) hosts for a ServiceEntry.
	Hosts []string `json:"hosts"`
	Ports []Port   `json:"ports"` // TCP ports only: the gateway carries nothing else
	// Identities are the exact SPIFFE IDs the destination may present: the service accounts
	// of its pods, the alpha.istio.io/{kubernetes,canonical}-serviceaccounts annotations, a
	// ServiceEntry's subjectAltNames and endpoints' service accounts; each repeated under the
	// trust-domain aliases. Sorted, without duplicates.
	Identities []string `json:"identities,omitempty"`
	// IdentitiesExact is false when Identities cannot be trusted to be complete (pods cannot be
	// read, or no service account was found): the caller falls back to the trust-domain prefix
	// and warns.
	IdentitiesExact bool   `json:"identitiesExact"`
	Endpoints       int    `json:"endpoints"`        // ready endpoints (EndpointSlices, or the ServiceEntry's endpoints or selected pods)
	Reachable       bool   `json:"reachable"`        // reachable through the east-west gateway
	Reason          string `json:"reason,omitempty"` // why not, when Reachable is false
	// Warnings name hostile or unusable cluster data that was dropped (a host with spaces, a
	// service account that is not a name...). The service works without it.
	Warnings []string `json:"warnings,omitempty"`
	// Conflicts are hosts this service declares that another service owns, as Istio decides
	// (see HostConflict); they are left out of Hosts and never written to the hosts file.
	Conflicts []HostConflict `json:"conflicts,omitempty"`
}

// Key is "name.namespace", the short form the user types.
func (s Service) Key() string { return s.Name + "." + s.Namespace }
