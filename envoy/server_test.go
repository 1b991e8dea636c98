package envoy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// adsStream opens a raw ADS stream to srv, with authorization set to auth ("" for none).
func adsStream(t *testing.T, srv *Server, auth string) discoverygrpc.AggregatedDiscoveryService_StreamAggregatedResourcesClient {
	t.Helper()
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx := ctxTimeout(t, 10*time.Second)
	if auth != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", auth)
	}
	stream, err := discoverygrpc.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func TestServerServesOnlyWithSecret(t *testing.T) {
	srv, err := NewServer("node-a")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.Addr(), "127.0.0.1:") {
		t.Errorf("listens on %s, want 127.0.0.1 only", srv.Addr())
	}
	if len(srv.Secret()) < 32 {
		t.Errorf("secret %d characters, want a long random one", len(srv.Secret()))
	}
	other, err := NewServer("node-a")
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	if other.Secret() == srv.Secret() {
		t.Error("two servers share a secret")
	}

	plan := goldenCases[0].plan
	if err := srv.Update(plan, goldenCreds(t)); err != nil {
		t.Fatal(err)
	}
	req := &discoverygrpc.DiscoveryRequest{Node: &corev3.Node{Id: "node-a"}, TypeUrl: resource.ClusterType}

	for name, auth := range map[string]string{
		"no token":     "",
		"wrong token":  "Bearer " + strings.Repeat("0", len(srv.Secret())),
		"not a bearer": srv.Secret(),
	} {
		t.Run(name, func(t *testing.T) {
			stream := adsStream(t, srv, auth)
			_ = stream.Send(req) // may already fail; Recv has the status
			_, err := stream.Recv()
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("Recv: %v, want code Unauthenticated", err)
			}
		})
	}

	t.Run("right token", func(t *testing.T) {
		stream := adsStream(t, srv, "Bearer "+srv.Secret())
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		// The HTTP port's cluster and its upgrade cluster (UpgradeClusterName).
		if resp.GetVersionInfo() != "v1" || len(resp.GetResources()) != 2 {
			t.Fatalf("response version %q with %d clusters, want v1 with 2", resp.GetVersionInfo(), len(resp.GetResources()))
		}
		// The snapshot's resources come from a map: their order is not fixed.
		var names []string
		for _, r := range resp.GetResources() {
			var c clusterv3.Cluster
			if err := r.UnmarshalTo(&c); err != nil {
				t.Fatal(err)
			}
			names = append(names, c.GetName())
		}
		slices.Sort(names)
		if want := []string{"ratings.bookinfo:9080", "ratings.bookinfo:9080.upgrade"}; !slices.Equal(names, want) {
			t.Errorf("clusters %q, want %q", names, want)
		}
		// Both secrets a cluster names are served on the same stream.
		if err := stream.Send(&discoverygrpc.DiscoveryRequest{TypeUrl: resource.SecretType, ResourceNames: []string{SecretCertificate, SecretRootCA}}); err != nil {
			t.Fatal(err)
		}
		resp, err = stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetTypeUrl() != resource.SecretType || len(resp.GetResources()) != 2 {
			t.Fatalf("secret response %s with %d resources, want 2 secrets", resp.GetTypeUrl(), len(resp.GetResources()))
		}
	})
}

func TestServerUpdateKeepsLastGoodSnapshot(t *testing.T) {
	srv, err := NewServer("node-b")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.WaitApplied(context.Background()); err == nil {
		t.Error("WaitApplied before any Update succeeded")
	}
	creds := goldenCreds(t)
	if err := srv.Update(goldenCases[0].plan, creds); err != nil {
		t.Fatal(err)
	}
	bad := goldenCases[0].plan
	bad.Gateway.Host = ""
	if err := srv.Update(bad, creds); err == nil || !strings.Contains(err.Error(), "gateway") {
		t.Fatalf("Update with a bad plan: %v, want a gateway error", err)
	}
	snap, err := srv.cache.GetSnapshot("node-b")
	if err != nil {
		t.Fatal(err)
	}
	if v := snap.GetVersion(resource.ClusterType); v != "v1" {
		t.Errorf("served version %q after a failed Update, want v1", v)
	}
	if err := srv.Update(goldenCases[1].plan, creds); err != nil {
		t.Fatal(err)
	}
	snap, _ = srv.cache.GetSnapshot("node-b")
	if v := snap.GetVersion(resource.ClusterType); v != "v2" {
		t.Errorf("version %q after the second good Update, want v2", v)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range snap.GetResources(resource.SecretType) {
			if !yield(n) {
				return
			}
		}
	})
	if !slices.Equal(names, []string{SecretRootCA, SecretCertificate}) {
		t.Errorf("secrets in snapshot %q", names)
	}
}

func TestCheckSecretsPresent(t *testing.T) {
	res, err := BuildResources(goldenCases[0].plan, goldenCreds(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSecretsPresent(res); err != nil {
		t.Fatal(err)
	}
	res.Secrets = res.Secrets[:1] // drop ROOTCA
	if err := checkSecretsPresent(res); !errContains(err, `refers to secret "ROOTCA"`) {
		t.Fatalf("got %v, want the missing ROOTCA named", err)
	}
}

func TestSecretsStayOutOfFormatting(t *testing.T) {
	creds := goldenCreds(t)
	spec := ProxySpec{SessionID: "s1", Bootstrap: []byte(`{"secret":"hunter2"}`), AdminPort: 15000, AdminToken: "swordfish"}
	admin := AdminEndpoint{Addr: "127.0.0.1:15000", Token: "swordfish"}
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", creds, creds, creds, creds), fmt.Sprintf("%v %+v %#v %s", spec, spec, spec, spec),
		fmt.Sprintf("%v %+v %#v %s", admin, admin, admin, admin)} {
		if strings.Contains(s, "PRIVATE KEY") || strings.Contains(s, "hunter2") || strings.Contains(s, "swordfish") {
			t.Errorf("formatting shows a secret: %s", s)
		}
	}
}

// The ADS server serves exactly one Envoy: a second client with the right secret (anything
// that read the bootstrap the container's filesystem keeps) is refused while the first lives,
// and after it ends too, until the session re-arms the server for an Envoy it starts.
func TestServerServesExactlyOneEnvoy(t *testing.T) {
	srv, err := NewServer("node-c")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.Update(goldenCases[0].plan, goldenCreds(t)); err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + srv.Secret()
	req := &discoverygrpc.DiscoveryRequest{Node: &corev3.Node{Id: "node-c"}, TypeUrl: resource.SecretType, ResourceNames: []string{SecretCertificate, SecretRootCA}}
	served := func(stream discoverygrpc.AggregatedDiscoveryService_StreamAggregatedResourcesClient) error {
		if err := stream.Send(req); err != nil {
			_, err = stream.Recv() // the status says why
			return err
		}
		resp, err := stream.Recv()
		if err == nil && len(resp.GetResources()) != 2 {
			return fmt.Errorf("%d secrets served", len(resp.GetResources()))
		}
		return err
	}

	first := adsStream(t, srv, auth)
	if err := served(first); err != nil {
		t.Fatalf("first Envoy: %v", err)
	}
	second := adsStream(t, srv, auth)
	if err := served(second); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "another Envoy") {
		t.Fatalf("second client while the first lives: %v, want PermissionDenied", err)
	}
	// The first still works.
	if err := first.Send(&discoverygrpc.DiscoveryRequest{TypeUrl: resource.ClusterType, Node: &corev3.Node{Id: "node-c"}}); err != nil {
		t.Fatalf("first Envoy after the refusal: %v", err)
	}
	if _, err := first.Recv(); err != nil {
		t.Fatalf("first Envoy after the refusal: %v", err)
	}

	// The first goes away; nobody is served until the session re-arms.
	if err := first.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Recv(); err == nil {
		t.Fatal("the first stream did not end")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := served(adsStream(t, srv, auth))
		if strings.Contains(fmt.Sprint(err), "only an Envoy that meshjoin starts") {
			break
		}
		if status.Code(err) != codes.PermissionDenied || time.Now().After(deadline) {
			t.Fatalf("a client after the first ended, not re-armed: %v, want PermissionDenied", err)
		}
		time.Sleep(20 * time.Millisecond) // the server has not yet seen the first stream end
	}

	// Re-armed (the session starts a new Envoy): the next one is served, and re-arming again
	// ends its stream and hands over to the next.
	srv.Rearm()
	restarted := adsStream(t, srv, auth)
	if err := served(restarted); err != nil {
		t.Fatalf("re-armed: %v", err)
	}
	srv.Rearm()
	if _, err := restarted.Recv(); err == nil {
		t.Fatal("the replaced stream goes on")
	}
	if err := served(adsStream(t, srv, auth)); err != nil {
		t.Fatalf("after the second re-arm: %v", err)
	}
}
