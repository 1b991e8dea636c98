package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/meshjoin/meshjoin/certs"
	"github.com/meshjoin/meshjoin/mesh"
)

// checkCredentials asks the API server who we are: it runs the kubeconfig's exec plugin, if
// any, and proves the credentials are accepted.
func checkCredentials(ctx context.Context, s *state) Result {
	if s.env.Client == nil {
		return fail(KindEnvironment, fmt.Sprintf("the kubeconfig cannot be used: %v", s.env.ConnectErr),
			"check --kubeconfig / $KUBECONFIG and --context (`kubectl config get-contexts`)")
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout*2)
	defer cancel()
	review, err := s.env.Client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	switch {
	case err == nil:
		s.authenticated = true
		return pass(fmt.Sprintf("context %s, authenticated as %s", s.env.Context, review.Status.UserInfo.Username))
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
		// An older API server, or one that does not tell: being answered at all proves the credentials.
		s.authenticated = true
		return pass(fmt.Sprintf("context %s, credentials accepted", s.env.Context))
	case apierrors.IsUnauthorized(err):
		return fail(KindPermission, fmt.Sprintf("context %s: the API server rejected the credentials: %v", s.env.Context, err),
			"log in again (your cloud CLI's login, or a fresh kubeconfig); `kubectl --context "+s.env.Context+" get --raw /version` shows the same")
	case strings.Contains(err.Error(), "getting credentials") || strings.Contains(err.Error(), "exec:"):
		return fail(KindEnvironment, fmt.Sprintf("context %s: the kubeconfig's credential plugin failed: %v", s.env.Context, err),
			"run the plugin's login (e.g. `gcloud auth login`, `aws sso login`, `kubelogin`), and check it is on PATH; `kubectl --context "+s.env.Context+" get ns` shows its message")
	}
	return fail(KindUnreachable, fmt.Sprintf("context %s: the API server did not answer: %v", s.env.Context, err),
		"check the network to the cluster (VPN) and the server address in the kubeconfig")
}

// checkClock compares this machine's clock with the Date header of the API server's answer.
func checkClock(ctx context.Context, s *state) Result {
	hc, err := rest.HTTPClientFor(s.env.RESTConfig)
	if err != nil {
		return fail(KindEnvironment, "no HTTP client for the API server: "+err.Error(), "check the kubeconfig")
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(s.env.RESTConfig.Host, "/")+"/version", nil)
	if err != nil {
		return fail(KindEnvironment, err.Error(), "check the server address in the kubeconfig")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fail(KindUnreachable, "the API server did not answer: "+err.Error(), "check the network to the cluster")
	}
	resp.Body.Close()
	now := s.env.Now()
	server, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return Result{Verdict: Warn, Detail: "the API server sent no usable Date header; the clock was not compared"}
	}
	skew := now.Sub(server).Round(time.Second)
	if skew > MaxClockSkew || skew < -MaxClockSkew {
		dir := "ahead of"
		if skew < 0 {
			dir, skew = "behind", -skew
		}
		return fail(KindEnvironment, fmt.Sprintf("this machine's clock is %s %s the API server's: certificates and tokens would look not yet valid or expired", skew, dir),
			"synchronise the clock (`timedatectl set-ntp true`, or your OS's time settings)")
	}
	return pass(fmt.Sprintf("within %s of the API server's (%s)", MaxClockSkew, skew))
}

// checkMeshConfig reads the mesh settings a join needs: trust domain and root bundle.
func checkMeshConfig(ctx context.Context, s *state) Result {
	opts := mesh.ConfigOptions{Revision: s.env.Revision}
	if id, err := certs.ParseIdentity(s.env.Identity); err == nil {
		opts.RootsNamespace = id.Namespace
	}
	cfg, err := mesh.LoadConfig(ctx, s.env.Client, opts)
	if err != nil {
		var forbidden *mesh.ErrForbidden
		if errors.As(err, &forbidden) {
			return fail(KindPermission, err.Error(), "ask your cluster admin for the RBAC in docs/rbac.yaml; check with: "+forbidden.CanI())
		}
		return fail(KindEnvironment, err.Error(), "is Istio installed in this cluster (--context)? --revision names a revisioned istiod")
	}
	s.meshCfg = cfg
	return pass(fmt.Sprintf("trust domain %s, mesh root from %s", cfg.TrustDomain, cfg.RootsNamespace))
}

// checkIdentity asks whether we may create tokens for the identity's service account, which
// is what a join does first (SelfSubjectAccessReview, like kubectl auth can-i).
func checkIdentity(ctx context.Context, s *state) Result {
	if s.env.Identity == "" {
		return fail(KindEnvironment, "no identity given", "pass --identity <namespace>/<serviceaccount>, set $MESHJOIN_IDENTITY, or write identity: in meshjoin.yaml")
	}
	id, err := certs.ParseIdentity(s.env.Identity)
	if err != nil {
		return fail(KindEnvironment, err.Error(), "give the identity as <namespace>/<serviceaccount>, e.g. dev/alice")
	}
	review := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{
		Namespace: id.Namespace, Verb: "create", Resource: "serviceaccounts", Subresource: "token", Name: id.ServiceAccount,
	}}}
	res, err := s.env.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return fail(KindUnreachable, "the access review failed: "+err.Error(), "check with: "+certs.CanICommand(id))
	}
	if !res.Status.Allowed {
		detail := fmt.Sprintf("%s: you may not create tokens for service account %s in %s", id, id.ServiceAccount, id.Namespace)
		if res.Status.Reason != "" {
			detail += " (" + res.Status.Reason + ")"
		}
		return fail(KindPermission, detail, "ask your cluster admin for the RBAC in docs/rbac.yaml (its resourceNames list the service accounts you may use), or choose one of those; check with: "+certs.CanICommand(id))
	}
	return pass(fmt.Sprintf("%s: you may create tokens for it", id))
}
