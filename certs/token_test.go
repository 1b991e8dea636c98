package certs_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshjoin/meshjoin/certs"
)

// tokenReactor answers TokenRequests for dev/me the way the API server does,
// after checking what was asked; fail, when set, is returned instead.
func tokenClient(t *testing.T, fail error, token string) (*fake.Clientset, *int) {
	t.Helper()
	cs := fake.NewClientset()
	calls := 0
	cs.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		calls++
		create := a.(k8stesting.CreateActionImpl)
		if create.GetNamespace() != "dev" || create.Name != "me" {
			t.Errorf("TokenRequest for %s/%s, want dev/me", create.GetNamespace(), create.Name)
		}
		req := create.GetObject().(*authenticationv1.TokenRequest)
		if !slices.Equal(req.Spec.Audiences, []string{"istio-ca"}) {
			t.Errorf("audiences = %v, want [istio-ca]", req.Spec.Audiences)
		}
		if req.Spec.ExpirationSeconds == nil || *req.Spec.ExpirationSeconds != 600 {
			t.Errorf("expirationSeconds = %v, want 600", req.Spec.ExpirationSeconds)
		}
		if fail != nil {
			return true, nil, fail
		}
		return true, &authenticationv1.TokenRequest{Status: authenticationv1.TokenRequestStatus{Token: token}}, nil
	})
	return cs, &calls
}

func TestServiceAccountToken(t *testing.T) {
	t.Parallel()
	cs, calls := tokenClient(t, nil, testToken)
	got, err := certs.NewServiceAccountTokenSource(cs, me).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != testToken {
		t.Errorf("token = %q, want the one the API server returned", got)
	}
	if *calls != 1 {
		t.Errorf("%d TokenRequests, want 1", *calls)
	}
}

func TestServiceAccountTokenForbidden(t *testing.T) {
	t.Parallel()
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts"}, "me",
		errors.New(`User "alice" cannot create resource "serviceaccounts/token" in API group "" in the namespace "dev"`))
	cs, _ := tokenClient(t, forbidden, "")
	_, err := certs.NewServiceAccountTokenSource(cs, me).Token(context.Background())
	if !errors.Is(err, certs.ErrForbidden) {
		t.Fatalf("err = %v, want ErrForbidden", err)
	}
	if !apierrors.IsForbidden(err) {
		t.Errorf("the API server's error is not wrapped: %v", err)
	}
	for _, want := range []string{
		`verb "create"`,
		`resource "serviceaccounts/token"`,
		`namespace "dev"`,
		"kubectl auth can-i create serviceaccounts/me --subresource=token -n dev",
		`User "alice"`, // who the API server thinks we are
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q\nwant it to say %q", err, want)
		}
	}
}

func TestServiceAccountTokenErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		fail     error
		token    string
		sentinel error
		want     string
	}{
		{"no such service account", apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccounts"}, "me"), "",
			certs.ErrServiceAccountNotFound, `service account "me" does not exist in namespace "dev"`},
		{"API server down", fmt.Errorf("dial tcp 10.0.0.1:6443: connect: connection refused"), "",
			nil, `create a token for service account "me" in namespace "dev": dial tcp`},
		{"empty token", nil, "",
			nil, "empty token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cs, _ := tokenClient(t, tc.fail, tc.token)
			_, err := certs.NewServiceAccountTokenSource(cs, me).Token(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("err = %v, want %v", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q\nwant it to say %q", err, tc.want)
			}
		})
	}
}

func TestCanICommand(t *testing.T) {
	t.Parallel()
	got := certs.CanICommand(certs.Identity{Namespace: "bookinfo", ServiceAccount: "productpage"})
	if want := "kubectl auth can-i create serviceaccounts/productpage --subresource=token -n bookinfo"; got != want {
		t.Errorf("CanICommand = %q, want %q", got, want)
	}
}
