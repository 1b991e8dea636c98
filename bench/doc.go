// Package bench holds meshjoin's end-to-end benchmarks against the test mesh: the data path
// (direct mTLS to the east-west gateway, through meshjoin's local Envoy, through a reference
// Envoy configured like an Istio client sidecar), and the join against a bare Envoy container
// start. Everything is in its _test.go files; `make bench` runs it and prints the issue's
// figures beside their goals. See docs/benchmarks.md.
package bench
