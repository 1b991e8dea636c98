// Package mesh is meshjoin's read-only view of an Istio mesh through client-go.
//
// It answers three questions for the session and the TUI, without ever writing to the
// cluster:
//
//   - How is the mesh set up? [LoadConfig] reads the trust domain (and its aliases), the root
//     certificate bundle, the network and the CA address from the ConfigMaps and labels
//     istiod itself uses.
//   - Where is the way in? [FindGateway] finds the east-west gateway Service (port 15443,
//     AUTO_PASSTHROUGH) of a network and its external address.
//   - What can be reached, and who is allowed to answer? A [Catalog] keeps informers on
//     Namespaces, Services, EndpointSlices, Pods and Istio ServiceEntries, and turns them into
//     [Service] values: host names, ports with their protocol, the exact SPIFFE identities the
//     local Envoy must accept from the destination, the number of ready endpoints, and whether
//     the service is reachable through the gateway (and why not).
//
// Everything is driven by the kubernetes.Interface and dynamic.Interface the caller gives,
// so the same code runs against a fake clientset in unit tests and a real kube-apiserver in
// integration tests. Cluster data is treated as untrusted: host names, service-account names
// and SPIFFE IDs are validated before they can reach a hosts file or an Envoy config, and
// what is dropped is reported in [Service.Warnings].
package mesh
