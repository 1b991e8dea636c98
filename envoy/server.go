package envoy

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Server is the in-process ADS server the local Envoy reads its configuration from. It
// listens on 127.0.0.1 and serves only a client that presents its random secret, and of those
// exactly one: the first stream after NewServer or Rearm. The secret is in the bootstrap, which
// the Docker runtime hands the container as a file the engine keeps on disk; anything local
// that reads it could otherwise open a second stream and be served the workload's private key.
// While the owner's stream lives every other stream is refused; once it ends, so is every new
// one until the session, which alone starts Envoys, calls Rearm.
type Server struct {
	nodeID string
	secret string
	cache  cache.SnapshotCache
	grpc   *grpc.Server
	lis    net.Listener
	cancel context.CancelFunc
	done   chan struct{}

	updateMu sync.Mutex // serialises Update
	version  uint64

	contacted     chan struct{} // closed on the first request from an authorized Envoy
	contactedOnce sync.Once

	ownerMu sync.Mutex
	armed   bool         // the next authenticated stream becomes the owner
	owner   *streamOwner // nil when no stream is served

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever the fields below change
	current string        // version of the last snapshot set
	needSDS bool          // the current snapshot has clusters, so Envoy subscribes to secrets
	acked   map[string]string
	nacks   map[string]nack
	nonces  map[string]string // response nonce -> version, to tie a NACK to a version
}

type nack struct{ version, message string }

// watchedTypes are the types WaitApplied waits for.
var watchedTypes = []string{resource.ClusterType, resource.ListenerType, resource.SecretType}

// NewServer starts an ADS server on 127.0.0.1 (a free port) for the Envoy with node id nodeID.
// It serves nothing until the first Update.
func NewServer(nodeID string) (*Server, error) {
	if nodeID == "" {
		return nil, errors.New("ads server: empty node id")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("ads server: secret: %w", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("ads server: listen on 127.0.0.1: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		nodeID:    nodeID,
		secret:    hex.EncodeToString(raw),
		cache:     cache.NewSnapshotCache(true, cache.IDHash{}, nil),
		lis:       lis,
		cancel:    cancel,
		done:      make(chan struct{}),
		changed:   make(chan struct{}),
		acked:     map[string]string{},
		contacted: make(chan struct{}),
		armed:     true,
		nacks:     map[string]nack{},
		nonces:    map[string]string{},
	}
	s.grpc = grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := s.authorize(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := s.authorize(ss.Context()); err != nil {
				return err
			}
			owned, release, err := s.claim(ss)
			if err != nil {
				return err
			}
			defer release()
			return h(srv, owned)
		}),
	)
	callbacks := serverv3.CallbackFuncs{
		StreamRequestFunc:  s.onRequest,
		StreamResponseFunc: s.onResponse,
	}
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(s.grpc, serverv3.NewServer(ctx, nackHoldCache{s.cache, s}, callbacks))
	go func() {
		defer close(s.done)
		_ = s.grpc.Serve(lis) // returns when Close stops the server
	}()
	return s, nil
}

// Addr is the server's host:port on 127.0.0.1.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Secret is the bearer token a client must present. It goes into the bootstrap and nowhere
// else: never log it.
func (s *Server) Secret() string { return s.secret }

// Close stops the server and ends every stream.
func (s *Server) Close() {
	s.cancel()
	s.grpc.Stop()
	<-s.done
}

func (s *Server) authorize(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		token, ok := strings.CutPrefix(v, "Bearer ")
		if ok && subtle.ConstantTimeCompare([]byte(token), []byte(s.secret)) == 1 {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "meshjoin ADS server: missing or wrong bearer token")
}

// Rearm lets the next authenticated stream become the owner, ending the current owner's
// stream if it still runs. The session calls it each time it starts an Envoy, just before.
func (s *Server) Rearm() {
	s.ownerMu.Lock()
	defer s.ownerMu.Unlock()
	if s.owner != nil {
		s.owner.cancel()
		s.owner = nil
	}
	s.armed = true
}

// claim makes ss the owner if the server is armed, or refuses it.
func (s *Server) claim(ss grpc.ServerStream) (grpc.ServerStream, func(), error) {
	s.ownerMu.Lock()
	defer s.ownerMu.Unlock()
	switch {
	case s.owner != nil:
		return nil, nil, status.Error(codes.PermissionDenied, "meshjoin ADS server: another Envoy is connected; this server serves exactly one")
	case !s.armed:
		return nil, nil, status.Error(codes.PermissionDenied, "meshjoin ADS server: only an Envoy that meshjoin starts is served")
	}
	ctx, cancel := context.WithCancel(ss.Context())
	me := &streamOwner{cancel: cancel}
	s.armed, s.owner = false, me
	release := func() {
		cancel()
		s.ownerMu.Lock()
		if s.owner == me { // not yet replaced by Rearm
			s.owner = nil
		}
		s.ownerMu.Unlock()
	}
	return &ownedStream{ServerStream: ss, ctx: ctx}, release, nil
}

type streamOwner struct{ cancel context.CancelFunc }

// ownedStream is the owner's stream, which Rearm can end: go-control-plane stops serving a
// stream when its context ends or a receive fails, so both follow ctx.
type ownedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (o *ownedStream) Context() context.Context { return o.ctx }

func (o *ownedStream) RecvMsg(m any) error {
	done := make(chan error, 1)
	go func() { done <- o.ServerStream.RecvMsg(m) }()
	select {
	case err := <-done:
		return err
	case <-o.ctx.Done():
		return status.Error(codes.Aborted, "meshjoin ADS server: a new Envoy was started; this stream is closed")
	}
}

// Update builds the resources for plan and creds, checks them, and publishes them as the next
// snapshot version. Envoy applies only what changed: unchanged listeners keep their
// connections, so a certificate rotation is an Update with new creds and the same plan.
func (s *Server) Update(plan Plan, creds Credentials) error {
	res, err := BuildResources(plan, creds)
	if err != nil {
		return err
	}
	if err := checkSecretsPresent(res); err != nil {
		return err
	}
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	version := "v" + strconv.FormatUint(s.version+1, 10)
	snap, err := cache.NewSnapshot(version, res.ByType())
	if err != nil {
		return fmt.Errorf("ads snapshot: %w", err)
	}
	if err := snap.Consistent(); err != nil {
		return fmt.Errorf("ads snapshot: %w", err)
	}
	if err := s.cache.SetSnapshot(context.Background(), s.nodeID, snap); err != nil {
		return fmt.Errorf("ads snapshot: %w", err)
	}
	s.version++
	s.mu.Lock()
	s.current = version
	s.needSDS = len(res.Clusters) > 0
	s.notifyLocked()
	s.mu.Unlock()
	return nil
}

// WaitApplied waits until Envoy has acknowledged the latest Update for clusters, listeners
// and secrets. It returns Envoy's own message if Envoy rejected (NACKed) that version, e.g.
// a listener whose address is already in use.
func (s *Server) WaitApplied(ctx context.Context) error {
	for {
		s.mu.Lock()
		current, changed := s.current, s.changed
		if current == "" {
			s.mu.Unlock()
			return errors.New("ads server: nothing to apply yet (no Update)")
		}
		var msgs []string
		done := true
		for _, typ := range watchedTypes {
			if typ == resource.SecretType && !s.needSDS {
				continue
			}
			if n, ok := s.nacks[typ]; ok && n.version == current {
				msgs = append(msgs, n.message)
			}
			if s.acked[typ] != current {
				done = false
			}
		}
		s.mu.Unlock()
		if len(msgs) > 0 {
			return fmt.Errorf("envoy rejected configuration %s: %s", current, strings.Join(msgs, "; "))
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for envoy to apply configuration %s: %w", current, ctx.Err())
		case <-changed:
		}
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) onResponse(_ context.Context, _ int64, _ *discoverygrpc.DiscoveryRequest, resp *discoverygrpc.DiscoveryResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.nonces) > 1000 { // one entry per response; a long session must not grow it forever
		clear(s.nonces)
	}
	s.nonces[resp.GetNonce()] = resp.GetVersionInfo()
}

// Contacted is closed once an Envoy with the secret has asked for configuration: until then
// a slow start cannot be told from an Envoy that cannot reach this server.
func (s *Server) Contacted() <-chan struct{} { return s.contacted }

func (s *Server) onRequest(_ int64, req *discoverygrpc.DiscoveryRequest) error {
	s.contactedOnce.Do(func() { close(s.contacted) })
	s.mu.Lock()
	defer s.mu.Unlock()
	typ := req.GetTypeUrl()
	if d := req.GetErrorDetail(); d != nil {
		s.nacks[typ] = nack{version: s.nonces[req.GetResponseNonce()], message: d.GetMessage()}
	} else if req.GetResponseNonce() != "" {
		s.acked[typ] = req.GetVersionInfo()
	}
	s.notifyLocked()
	return nil
}

// nackHoldCache stops go-control-plane from answering a NACK with the very version Envoy
// just rejected. Left alone, the snapshot cache sees a request whose version differs from the
// snapshot's and sends the snapshot again, at once, forever (a busy loop of a few ms per turn,
// e.g. while a listener's address is in use). Here a NACK counts as "has seen that version":
// the watch then waits for the next Update.
type nackHoldCache struct {
	cache.SnapshotCache
	s *Server
}

func (c nackHoldCache) CreateWatch(req *cache.Request, sub cache.Subscription, ch chan cache.Response) (func(), error) {
	if req.GetErrorDetail() != nil {
		c.s.mu.Lock()
		rejected, ok := c.s.nonces[req.GetResponseNonce()]
		c.s.mu.Unlock()
		if ok {
			req = proto.Clone(req).(*cache.Request)
			req.VersionInfo = rejected
		}
	}
	return c.SnapshotCache.CreateWatch(req, sub, ch)
}

// checkSecretsPresent makes sure every SDS name a cluster refers to is in the snapshot:
// go-control-plane's ADS cache does not answer a request for a missing name, and Consistent()
// does not look at secrets.
func checkSecretsPresent(res Resources) error {
	have := map[string]bool{}
	for _, r := range res.Secrets {
		have[r.(*tlsv3.Secret).GetName()] = true
	}
	for _, r := range res.Clusters {
		c := r.(*clusterv3.Cluster)
		ts := c.GetTransportSocket().GetTypedConfig()
		if ts == nil {
			continue
		}
		var up tlsv3.UpstreamTlsContext
		if err := ts.UnmarshalTo(&up); err != nil {
			return fmt.Errorf("cluster %q: transport socket: %w", c.GetName(), err)
		}
		common := up.GetCommonTlsContext()
		names := []string{common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig().GetName()}
		for _, sc := range common.GetTlsCertificateSdsSecretConfigs() {
			names = append(names, sc.GetName())
		}
		for _, n := range names {
			if n != "" && !have[n] {
				return fmt.Errorf("cluster %q refers to secret %q, which is not in the snapshot", c.GetName(), n)
			}
		}
	}
	return nil
}
