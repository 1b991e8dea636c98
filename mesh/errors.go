package mesh

import (
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ErrForbidden reports that RBAC denies a read meshjoin cannot do without. It names the verb and
// the resource, and the kubectl line that checks the permission.
type ErrForbidden struct {
	Verb      string // "list", "get"
	Resource  string // plural resource, with its group when not core: "services", "endpointslices.discovery.k8s.io"
	Namespace string // "" for a list across all namespaces (or a cluster-scoped resource)
	Name      string // the object, for a get
	Err       error  // the API server's answer
}

func (e *ErrForbidden) Error() string {
	what := e.Resource
	if e.Name != "" {
		what += " " + e.Name
	}
	switch {
	case e.Namespace != "":
		what += " in namespace " + e.Namespace
	case e.Resource != "namespaces" && e.Name == "":
		what += " in all namespaces"
	}
	return fmt.Sprintf("not allowed to %s %s: check with `%s` and ask a cluster admin for read access", e.Verb, what, e.CanI())
}

func (e *ErrForbidden) Unwrap() error { return e.Err }

// CanI is the kubectl command that checks the missing permission.
func (e *ErrForbidden) CanI() string {
	var b strings.Builder
	b.WriteString("kubectl auth can-i ")
	b.WriteString(e.Verb)
	b.WriteString(" ")
	b.WriteString(e.Resource)
	if e.Name != "" {
		b.WriteString("/" + e.Name)
	}
	switch {
	case e.Namespace != "":
		b.WriteString(" -n " + e.Namespace)
	case e.Resource != "namespaces":
		b.WriteString(" --all-namespaces")
	}
	return b.String()
}

// ErrNoGateway reports that no usable east-west gateway was found. When Service is set, the
// gateway exists but has no external address yet. Either way the way out is an explicit
// --gateway host:port.
type ErrNoGateway struct {
	Network   string   // the network asked for; "" means any
	Namespace string   // where the gateway was looked for
	Service   string   // namespace/name of a gateway without an address, else ""
	Detail    string   // what was found instead, for the message
	Others    []string // gateways of other networks, "namespace/name (network)"
}

func (e *ErrNoGateway) Error() string {
	var b strings.Builder
	if e.Service != "" {
		fmt.Fprintf(&b, "east-west gateway %s has no external address", e.Service)
	} else {
		b.WriteString("no east-west gateway")
		if e.Network != "" {
			fmt.Fprintf(&b, " for network %q", e.Network)
		}
		fmt.Fprintf(&b, " in namespace %s (a Service labelled topology.istio.io/network exposing port 15443)", e.Namespace)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if len(e.Others) > 0 {
		b.WriteString("; gateways of other networks: " + strings.Join(e.Others, ", "))
	}
	b.WriteString("; pass --gateway host:port")
	return b.String()
}

// ErrUnknownService reports a name that matches no service in the catalogue, with up to three
// close matches.
type ErrUnknownService struct {
	Name        string
	Suggestions []string
}

func (e *ErrUnknownService) Error() string {
	msg := fmt.Sprintf("unknown service %q", e.Name)
	if len(e.Suggestions) > 0 {
		msg += "; did you mean " + orList(e.Suggestions) + "?"
	} else {
		msg += ` (use "name.namespace", or a ServiceEntry host)`
	}
	return msg
}

// ErrAmbiguousService reports a name that matches more than one service.
type ErrAmbiguousService struct {
	Name       string
	Candidates []string // Key() of each match, sorted
}

func (e *ErrAmbiguousService) Error() string {
	shown := e.Candidates
	more := ""
	if len(shown) > 10 {
		more = fmt.Sprintf(" and %d more", len(shown)-10)
		shown = shown[:10]
	}
	return fmt.Sprintf("%q matches several services: %s%s; name one as \"name.namespace\"", e.Name, strings.Join(shown, ", "), more)
}

func orList(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// apiError turns an API error into ErrForbidden when RBAC denied it, else wraps it with what
// was being done.
func apiError(err error, verb, resource, namespace, name string) error {
	if apierrors.IsForbidden(err) {
		return &ErrForbidden{Verb: verb, Resource: resource, Namespace: namespace, Name: name, Err: err}
	}
	what := resource
	if name != "" {
		what += " " + name
	}
	if namespace != "" {
		what = fmt.Sprintf("%s in namespace %s", what, namespace)
	}
	return fmt.Errorf("%s %s: %w", verb, what, err)
}
