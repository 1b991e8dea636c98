// Package docs holds meshjoin's user documentation; the one file code also reads, rbac.yaml,
// is embedded here so the testbed applies exactly what users are told to apply.
package docs

import _ "embed"

// RBAC is docs/rbac.yaml.
//
//go:embed rbac.yaml
var RBAC []byte
