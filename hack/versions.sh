# Pinned versions of the real components, shared by the scripts and the Makefile.
ENVOY_VERSION=1.40.0
KUBE_VERSION=1.36.3
ENVOY_IMAGE="meshjoin.local/envoy:$ENVOY_VERSION"
ISTIO_VERSION=v0.0.0-20260827124520-eed52ebb66ad
