package certs

import (
	"context"
	"errors"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// CAAudience is the audience istiod requires on the token (TokenReview with
// audience istio-ca).
const CAAudience = "istio-ca"

// TokenExpirationSeconds is the lifetime asked for each token: the minimum the
// API server accepts. A token is used once, for one CreateCertificate call.
const TokenExpirationSeconds = 600

// TokenSource yields a Kubernetes service-account token for the mesh CA
// (audience istio-ca). Implementations must not put the token in errors.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenSourceFunc adapts a function to [TokenSource].
type TokenSourceFunc func(ctx context.Context) (string, error)

// Token calls f.
func (f TokenSourceFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// NewServiceAccountTokenSource returns a TokenSource that asks the API server
// for a fresh token of id's service account on each call (TokenRequest,
// audience istio-ca, 600 s). The caller needs RBAC verb create on
// serviceaccounts/token in id.Namespace; when missing, the error wraps
// [ErrForbidden] and gives the kubectl command to check.
func NewServiceAccountTokenSource(client kubernetes.Interface, id Identity) TokenSource {
	return &serviceAccountTokens{client: client, id: id}
}

type serviceAccountTokens struct {
	client kubernetes.Interface
	id     Identity
}

func (s *serviceAccountTokens) Token(ctx context.Context) (string, error) {
	ns, sa := s.id.Namespace, s.id.ServiceAccount
	expiration := int64(TokenExpirationSeconds)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{CAAudience},
		ExpirationSeconds: &expiration,
	}}
	resp, err := s.client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	switch {
	case err == nil:
	case apierrors.IsForbidden(err):
		return "", fmt.Errorf("%w: cannot create a token for service account %q in namespace %q: "+
			"you need verb \"create\" on resource \"serviceaccounts/token\" (core API group) in namespace %q, "+
			"ideally limited to resourceNames [%q]; check with: %s (the API server said: %w)",
			ErrForbidden, sa, ns, ns, sa, CanICommand(s.id), err)
	case apierrors.IsNotFound(err):
		return "", fmt.Errorf("%w: service account %q does not exist in namespace %q; list them with: kubectl get serviceaccounts -n %s (%w)",
			ErrServiceAccountNotFound, sa, ns, ns, err)
	default:
		return "", fmt.Errorf("create a token for service account %q in namespace %q: %w", sa, ns, err)
	}
	if resp == nil || resp.Status.Token == "" {
		return "", errors.New("create a token for service account " + quoteShort(ns+"/"+sa) + ": the API server returned an empty token")
	}
	return resp.Status.Token, nil
}

// CanICommand is the kubectl command that checks whether the current user may
// create tokens for id's service account. "serviceaccounts/<name>" is kubectl's
// TYPE/NAME form; the subresource goes in --subresource, so rules limited by
// resourceNames are checked too.
func CanICommand(id Identity) string {
	return fmt.Sprintf("kubectl auth can-i create serviceaccounts/%s --subresource=token -n %s", id.ServiceAccount, id.Namespace)
}
