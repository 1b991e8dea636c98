package envoy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func proxyPlan() Plan {
	return Plan{
		Gateway:      Gateway{Host: "127.0.0.50", Port: 15443},
		TrustDomains: []string{"cluster.local"},
		Proxy:        &ProxyListener{IP: netip.MustParseAddr("127.0.0.1"), Port: 15080},
		Services: []Service{
			{Key: "ratings.bookinfo", Host: "ratings.bookinfo.svc.cluster.local",
				Names: []string{"ratings.bookinfo.svc.cluster.local", "ratings.bookinfo.svc", "ratings.bookinfo"},
				Ports: []Port{{Number: 9080, Protocol: HTTP}}, Identities: []string{"spiffe://cluster.local/ns/bookinfo/sa/ratings"}},
			{Key: "web.shop", Host: "web.shop.svc.cluster.local",
				Names: []string{"web.shop.svc.cluster.local", "web.shop.svc", "web.shop"},
				Ports: []Port{{Number: 80, Protocol: HTTP}, {Number: 7070, Protocol: HTTP2}, {Number: 3306, Protocol: TCP}}},
		},
	}
}

// TestProxyModeGolden is TestBuildResourcesGolden for proxy mode, on the host network and
// published (Docker Desktop); the real Envoy validates each.
func TestProxyModeGolden(t *testing.T) {
	creds := goldenCreds(t)
	envoyPath := envoyBinary(t)
	published := Publish(proxyPlan())
	want := PublishedPort{Listener: ProxyListenerName, HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 15080, ContainerPort: PublishedContainerPort}
	if got := PublishedProxy(*published.Proxy); got != want || published.Proxy.ContainerPort != PublishedContainerPort {
		t.Errorf("Publish in proxy mode publishes %v, listener on container port %d; want %v", got, published.Proxy.ContainerPort, want)
	}
	for name, plan := range map[string]Plan{"proxy_mode": proxyPlan(), "proxy_mode_published": published} {
		t.Run(name, func(t *testing.T) {
			res, err := BuildResources(plan, creds)
			if err != nil {
				t.Fatal(err)
			}
			got := resourcesJSON(t, res)
			checkGolden(t, name, got)
			envoyValidate(t, envoyPath, res)
		})
	}
}

// The routing table itself, read from the built listener rather than a golden file: which
// authority goes to which cluster, CONNECT routes terminate the tunnel, the rest is refused.
func TestProxyModeRoutes(t *testing.T) {
	res, err := BuildResources(proxyPlan(), goldenCreds(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Listeners) != 1 || len(res.Clusters) != 6 {
		t.Fatalf("%d listeners and %d clusters, want 1 and 6 (one per service port, and the upgrade cluster of each HTTP port)", len(res.Listeners), len(res.Clusters))
	}
	if got := ListenerNames(proxyPlan()); !slices.Equal(got, []string{ProxyListenerName, "ratings.bookinfo:9080", "web.shop:80", "web.shop:7070", "web.shop:3306"}) {
		t.Errorf("ListenerNames = %q", got)
	}
	l := res.Listeners[0].(*listenerv3.Listener)
	if addr := l.Address.GetSocketAddress(); addr.Address != "127.0.0.1" || addr.GetPortValue() != 15080 {
		t.Errorf("listener on %s:%d, want 127.0.0.1:15080", addr.Address, addr.GetPortValue())
	}
	var hcm hcmv3.HttpConnectionManager
	if err := l.FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	route := map[string]string{} // authority -> cluster, or "403"
	for _, vh := range hcm.GetRouteConfig().VirtualHosts {
		last := vh.Routes[len(vh.Routes)-1]
		if len(vh.Routes) < 2 || vh.Routes[0].Match.GetConnectMatcher() == nil || last.Match.GetPrefix() != "/" || len(last.Match.Headers) != 0 {
			t.Errorf("virtual host %s: want a CONNECT route first, a / route last", vh.Name)
		}
		// An HTTP port's CONNECT and upgrades go to its HTTP/1.1 cluster (UpgradeClusterName).
		http1 := len(vh.Routes) == 3
		for _, r := range vh.Routes {
			target := r.GetRoute().GetCluster()
			if r.GetDirectResponse().GetStatus() == 403 {
				target = "403"
			}
			if http1 && r != last {
				if want := UpgradeClusterName(last.GetRoute().GetCluster()); target != want {
					t.Errorf("virtual host %s: CONNECT or upgrade to %q, want %q", vh.Name, target, want)
				}
				target = last.GetRoute().GetCluster()
			}
			if r.Match.GetConnectMatcher() != nil && target != "403" {
				up := r.GetRoute().UpgradeConfigs
				if len(up) != 1 || up[0].UpgradeType != "CONNECT" || up[0].ConnectConfig == nil {
					t.Errorf("virtual host %s: CONNECT route does not terminate the tunnel: %v", vh.Name, up)
				}
			}
			for _, d := range vh.Domains {
				if prev, ok := route[d]; ok && prev != target {
					t.Errorf("%s routed to %s and %s", d, prev, target)
				}
				route[d] = target
			}
		}
	}
	for authority, want := range map[string]string{
		"ratings.bookinfo:9080": "ratings.bookinfo:9080", "ratings.bookinfo.svc:9080": "ratings.bookinfo:9080",
		"ratings.bookinfo.svc.cluster.local:9080": "ratings.bookinfo:9080",
		"web.shop": "web.shop:80", "web.shop:80": "web.shop:80", "web.shop.svc.cluster.local": "web.shop:80",
		"web.shop:7070": "web.shop:7070", "web.shop.svc:3306": "web.shop:3306", "*": "403",
	} {
		if route[authority] != want {
			t.Errorf("%s routes to %q, want %q", authority, route[authority], want)
		}
	}
	for _, never := range []string{"ratings.bookinfo", "ratings.bookinfo:80", "web.shop:9080"} {
		if _, ok := route[never]; ok {
			t.Errorf("%s has a route; it must fall to the refusal", never)
		}
	}
}

func TestProxyModeRejectsBadPlan(t *testing.T) {
	creds := goldenCreds(t)
	for name, tc := range map[string]struct {
		edit func(*Plan)
		want string
	}{
		"not loopback":  {func(p *Plan) { p.Proxy.IP = netip.MustParseAddr("0.0.0.0") }, "not a loopback address"},
		"port zero":     {func(p *Plan) { p.Proxy.Port = 0 }, "port 0 out of range"},
		"no names":      {func(p *Plan) { p.Services[0].Names = nil }, "no names to route on"},
		"wildcard name": {func(p *Plan) { p.Services[0].Names = []string{"*.bookinfo"} }, "cannot be routed on"},
		"shared name": {func(p *Plan) {
			p.Services[1].Names = append(p.Services[1].Names, "RATINGS.bookinfo")
			p.Services[1].Ports[1].Number = 9080
		}, "already routed to ratings.bookinfo:9080"},
		"port twice":     {func(p *Plan) { p.Services[1].Ports = append(p.Services[1].Ports, Port{Number: 80, Protocol: TCP}) }, "port 80 listed twice"},
		"container port": {func(p *Plan) { p.BindInContainer = true }, "container port 0 out of range"},
	} {
		t.Run(name, func(t *testing.T) {
			p := proxyPlan()
			proxy := *p.Proxy
			p.Proxy = &proxy
			tc.edit(&p)
			if _, err := BuildResources(p, creds); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
	// Two services on one port number are no clash in proxy mode: they have no addresses.
	p := proxyPlan()
	p.Services[1].Ports[0].Number = 9080
	if _, err := BuildResources(p, creds); err != nil {
		t.Errorf("two services on port 9080: %v", err)
	}
}

// TestProxyModeNative runs proxy mode in the real Envoy against the fake gateway: plain HTTP
// through the forward proxy by every name, CONNECT tunnels carrying TCP and gRPC with the
// right SNI and ALPN, and a refusal naming the authority for anything else.
func TestProxyModeNative(t *testing.T) {
	ca := newTestCA(t, "mesh")
	id := func(sa string) string { return "spiffe://cluster.local/ns/bookinfo/sa/" + sa }
	named := func(s Service) Service {
		s.Names = []string{s.Host, strings.TrimSuffix(s.Host, ".cluster.local"), s.Key}
		s.ListenIP = nextLoopback(t) // for newMeshEnv's first, hosts-mode, configuration
		return s
	}
	ratings := named(svc("ratings.bookinfo", HTTP, 9080, id("ratings")))
	web := named(svc("web.bookinfo", HTTP, 80, id("web")))
	greeter := named(svc("greeter.bookinfo", HTTP2, 9080, id("greeter")))
	db := named(svc("db.bookinfo", TCP, 3306, id("db")))
	env := newMeshEnv(t, ca, nil,
		gwService{ratings, ca.issue(t, id("ratings")).tls}, gwService{web, ca.issue(t, id("web")).tls},
		gwService{greeter, ca.issue(t, id("greeter")).tls}, gwService{db, ca.issue(t, id("db")).tls})
	listen := netip.AddrPortFrom(nextLoopback(t), 0)
	listen = netip.AddrPortFrom(listen.Addr(), uint16(freePort(t, listen.Addr())))
	env.plan.Proxy = &ProxyListener{IP: listen.Addr(), Port: uint32(listen.Port())}
	if err := env.srv.Update(env.plan, env.creds); err != nil {
		t.Fatal(err)
	}
	rt := NewNativeRuntime(envoyBinary(t))
	rt.tmpRoot = t.TempDir()
	env.startProxy(rt, "", testLogs{t})
	proxyURL := &url.URL{Scheme: "http", Host: listen.String()}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}

	for _, u := range []string{
		"http://ratings.bookinfo:9080/a", "http://ratings.bookinfo.svc:9080/a", "http://ratings.bookinfo.svc.cluster.local:9080/a",
		"http://web.bookinfo/a", "http://web.bookinfo:80/a", "http://web.bookinfo.svc.cluster.local/a",
	} {
		code, body, err := get(client, u)
		if err != nil || code != 200 || !strings.Contains(body, "path=/a") || !strings.Contains(body, "peer=spiffe://cluster.local/ns/dev/sa/meshjoin") {
			t.Errorf("GET %s through the proxy: %d %q %v", u, code, body, err)
		}
	}
	code, body, err := get(client, "http://reviews.bookinfo:9080/")
	if err != nil || code != 403 || !strings.Contains(body, "reviews.bookinfo:9080 is not a service joined") {
		t.Errorf("not joined: %d %q %v", code, body, err)
	}

	// CONNECT to the TCP service: the tunnel is the mTLS stream (the fake gateway greets with
	// the SNI it saw, then echoes).
	conn := connectThrough(t, listen.String(), "db.bookinfo.svc:3306")
	r := bufio.NewReader(conn)
	greeting, err := r.ReadString('\n')
	if err != nil || !strings.Contains(greeting, "sni=outbound_.3306_._.db.bookinfo.svc.cluster.local") {
		t.Fatalf("through the tunnel: %q %v", greeting, err)
	}
	fmt.Fprint(conn, "ping\n")
	if echo, err := r.ReadString('\n'); err != nil || echo != "ping\n" {
		t.Errorf("echo %q %v", echo, err)
	}
	conn.Close()

	// The same over an HTTP/2 CONNECT (h2c to the proxy, one stream per tunnel).
	h2 := &http.Transport{Protocols: new(http.Protocols)}
	h2.Protocols.SetUnencryptedHTTP2(true) // prior knowledge, as Envoy's listener expects
	defer h2.CloseIdleConnections()
	pr, pw := io.Pipe()
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Scheme: "http", Host: listen.String()}, Host: "db.bookinfo:3306", Header: http.Header{}, Body: pr}
	resp, err := h2.RoundTrip(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTP/2 CONNECT: %v %v", resp, err)
	}
	r2 := bufio.NewReader(resp.Body)
	if greeting, err := r2.ReadString('\n'); err != nil || !strings.Contains(greeting, "sni=outbound_.3306_._.db.bookinfo.svc.cluster.local") {
		t.Errorf("through the HTTP/2 tunnel: %q %v", greeting, err)
	}
	fmt.Fprint(pw, "h2\n")
	if echo, err := r2.ReadString('\n'); err != nil || echo != "h2\n" {
		t.Errorf("HTTP/2 tunnel echo %q %v", echo, err)
	}
	pw.Close()
	resp.Body.Close()

	// gRPC (h2c in the tunnel) to the HTTP/2 service, dialled through CONNECT.
	dial := func(ctx context.Context, target string) (net.Conn, error) {
		return connectThroughErr(listen.String(), target)
	}
	gc, err := grpc.NewClient("passthrough:///greeter.bookinfo:9080", grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dial))
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if resp, err := healthpb.NewHealthClient(gc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gRPC through CONNECT: %v %v", resp, err)
	}

	// CONNECT to anything not joined, an address included, is refused: no open relay.
	for _, target := range []string{"reviews.bookinfo:9080", "ratings.bookinfo:9081", "127.0.0.1:22", listen.String()} {
		if _, err := connectThroughErr(listen.String(), target); err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), target+" is not a service joined") {
			t.Errorf("CONNECT %s: %v, want a 403 naming it", target, err)
		}
	}
}

func connectThrough(t *testing.T, proxy, target string) net.Conn {
	t.Helper()
	c, err := connectThroughErr(proxy, target)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// connectThroughErr opens an HTTP/1.1 CONNECT tunnel to target through proxy.
func connectThroughErr(proxy, target string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		c.Close()
		return nil, fmt.Errorf("CONNECT %s: %s: %s", target, resp.Status, body)
	}
	_ = c.SetDeadline(time.Time{})
	return &bufferedConn{Conn: c, r: br}, nil
}

// bufferedConn reads what the response reader already buffered first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
