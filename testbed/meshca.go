package testbed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	securityapi "istio.io/api/security/v1alpha1"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Facts of the mesh CA that match istiod's.
const (
	CAServerName     = "istiod.istio-system.svc"
	CAAudience       = "istio-ca"
	DefaultClusterID = "Kubernetes"
	defaultCertTTL   = 24 * time.Hour
)

// meshCA is an IstioCertificateService like istiod's: it authenticates the bearer token with a
// TokenReview (audience istio-ca), ignores the CSR's identity and signs the token owner's SPIFFE ID.
type meshCA struct {
	securityapi.UnimplementedIstioCertificateServiceServer
	authority   *Authority
	kube        kubernetes.Interface
	trustDomain string
	maxTTL      time.Duration
	clusterID   string
	server      *grpc.Server
	addr        string
	signed      atomic.Int64
}

func startMeshCA(authority *Authority, kube kubernetes.Interface, trustDomain string, maxTTL time.Duration, revision string) (*meshCA, error) {
	names := []string{CAServerName, "istiod"}
	if revision != "" {
		names = append(names, "istiod-"+revision+".istio-system.svc")
	}
	serving, err := authority.NewKeyPair(LeafOptions{DNSNames: names, Server: true, TTL: 365 * 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ca := &meshCA{authority: authority, kube: kube, trustDomain: trustDomain, maxTTL: maxTTL, clusterID: DefaultClusterID, addr: l.Addr().String()}
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{serving.TLSCertificate()}, MinVersion: tls.VersionTLS12})
	ca.server = grpc.NewServer(grpc.Creds(creds))
	securityapi.RegisterIstioCertificateServiceServer(ca.server, ca)
	go ca.server.Serve(l)
	return ca, nil
}

func (ca *meshCA) stop() {
	if ca != nil {
		ca.server.Stop()
	}
}

// CreateCertificate follows istiod: authenticate, check the cluster, check the TTL, sign.
func (ca *meshCA) CreateCertificate(ctx context.Context, req *securityapi.IstioCertificateRequest) (*securityapi.IstioCertificateResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if id := first(md.Get("clusterid")); id != "" && id != ca.clusterID {
		return nil, status.Errorf(codes.Unauthenticated, "authenticate request: client claims to be in cluster %q, but we only know about local cluster %q", id, ca.clusterID)
	}
	identity, err := ca.authenticate(ctx, first(md.Get("authorization")))
	if err != nil {
		return nil, status.Errorf(codes.Unauthenticated, "authenticate request: %v", err)
	}
	ttl := time.Duration(req.GetValidityDuration()) * time.Second
	if ttl <= 0 {
		ttl = min(defaultCertTTL, ca.maxTTL)
	}
	if ttl > ca.maxTTL {
		return nil, status.Errorf(codes.InvalidArgument, "requested TTL %s is greater than the max allowed TTL %s", ttl, ca.maxTTL)
	}
	block, _ := pem.Decode([]byte(req.GetCsr()))
	if block == nil {
		return nil, status.Error(codes.InvalidArgument, "CSR is not PEM")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err == nil {
		err = csr.CheckSignature()
	}
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid CSR: %v", err)
	}
	// Like istiod, the SAN comes from the authenticated caller, never from the CSR.
	chain, err := ca.authority.Issue(csr.PublicKey, LeafOptions{URIs: []string{identity}, TTL: ttl, Server: true, Client: true})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "sign: %v", err)
	}
	ca.signed.Add(1)
	resp := &securityapi.IstioCertificateResponse{}
	for _, c := range chain {
		resp.CertChain = append(resp.CertChain, string(certPEM(c)))
	}
	return resp, nil
}

func (ca *meshCA) authenticate(ctx context.Context, header string) (string, error) {
	token, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || token == "" {
		return "", fmt.Errorf("no bearer token in the authorization header")
	}
	review, err := ca.kube.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token, Audiences: []string{CAAudience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token review: %v", err)
	}
	st := review.Status
	if !st.Authenticated {
		return "", fmt.Errorf("token not authenticated: %s", st.Error)
	}
	if !slices.Contains(st.Audiences, CAAudience) {
		return "", fmt.Errorf("token audiences %v do not include %s", st.Audiences, CAAudience)
	}
	parts := strings.Split(st.User.Username, ":")
	if len(parts) != 4 || parts[0] != "system" || parts[1] != "serviceaccount" {
		return "", fmt.Errorf("%q is not a service account", st.User.Username)
	}
	return SPIFFEID(ca.trustDomain, parts[2], parts[3]), nil
}

// SPIFFEID is Istio's workload identity for a service account.
func SPIFFEID(trustDomain, namespace, serviceAccount string) string {
	return fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", trustDomain, namespace, serviceAccount)
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
