// Package envoy turns a join plan into Envoy configuration, serves it over ADS, and runs the
// local Envoy.
//
// The flow is one way: a Plan (which services, on which loopback addresses, through which
// east-west gateway) and the workload Credentials go through the pure BuildResources, which
// returns validated listeners, clusters and SDS secrets; Server publishes them as one snapshot
// over an in-process ADS server that only the local Envoy (holding the server's random secret)
// may read; Bootstrap is the small static config that points that Envoy at the server; a
// Runtime (Docker or native) starts the Envoy; WaitReady says when every listener is serving.
// With Docker Desktop's published ports (published.go), Envoy serves every service from one
// listener and a Forwarder in the meshjoin process carries the services' loopback addresses
// to it (forward.go).
//
// The wire facts behind the resources (SNI, ALPN lists, SAN checks) are those of
// docs/istio-join-protocol.md in the shared documentation.
package envoy
