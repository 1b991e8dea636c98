package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshjoin/meshjoin/daemon"
	"github.com/meshjoin/meshjoin/mesh"
	"github.com/meshjoin/meshjoin/session"
)

// Backend is what the model needs from a session. Every method may block: the model calls
// them only from commands.
type Backend interface {
	// Open connects (discover, catalogue) acting as identity ("ns/sa").
	Open(ctx context.Context, identity string) (Info, error)
	Services() []mesh.Service
	Changes() <-chan struct{}
	// Progress delivers the session's step events.
	Progress() <-chan session.Event
	Start(ctx context.Context, keys []string) error
	SetServices(ctx context.Context, keys []string) error
	Status(ctx context.Context) (Status, error)
	ProxyDone() <-chan struct{}
	Leave(ctx context.Context) error
	Close() error
	// ServiceAccounts lists "ns/sa" the user may create tokens for, at most limit.
	ServiceAccounts(ctx context.Context, limit int) ([]string, error)
}

// Info describes the mesh the session talks to.
type Info struct {
	TrustDomain, Gateway, Identity string
}

// Status is one refresh of the dashboard.
type Status struct {
	Services     []session.ServiceStatus
	CertNotAfter time.Time
	Renewals     int
	LastError    string
	// Renewal is set while renewing the certificate fails.
	Renewal *session.RenewalTrouble
	// Stale is set while the cluster API does not answer.
	Stale *session.CatalogueStale
}

// SessionBackend is the real Backend: a session.Session opened from Config.
type SessionBackend struct {
	Config   session.Config // Identity, Services and Progress are set by the backend
	progress chan session.Event

	mu sync.Mutex
	s  *session.Session
}

// NewSessionBackend returns a backend for cfg.
func NewSessionBackend(cfg session.Config) *SessionBackend {
	return &SessionBackend{Config: cfg, progress: make(chan session.Event, 64)}
}

func (b *SessionBackend) sess() *session.Session {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.s
}

var errNotOpen = errors.New("not connected")

func (b *SessionBackend) Open(ctx context.Context, identity string) (Info, error) {
	cfg := b.Config
	cfg.Identity = identity
	cfg.Progress = func(e session.Event) { b.progress <- e }
	s, err := session.Open(ctx, cfg)
	if err != nil {
		return Info{}, err
	}
	b.mu.Lock()
	b.s = s
	b.mu.Unlock()
	return Info{TrustDomain: s.TrustDomain(), Gateway: s.GatewayAddr(), Identity: s.Identity()}, nil
}

// CurrentIdentity is the open session's identity as "<namespace>/<serviceaccount>" ("" when
// none is open), from its SPIFFE ID.
func (b *SessionBackend) CurrentIdentity() string {
	s := b.sess()
	if s == nil {
		return ""
	}
	_, rest, ok := strings.Cut(s.Identity(), "/ns/")
	ns, sa, ok2 := strings.Cut(rest, "/sa/")
	if !ok || !ok2 {
		return ""
	}
	return ns + "/" + sa
}

func (b *SessionBackend) Services() []mesh.Service {
	if s := b.sess(); s != nil {
		return s.Catalog().Services()
	}
	return nil
}

func (b *SessionBackend) Changes() <-chan struct{} {
	if s := b.sess(); s != nil {
		return s.Catalog().Changes()
	}
	return nil
}

func (b *SessionBackend) Progress() <-chan session.Event { return b.progress }

func (b *SessionBackend) Start(ctx context.Context, keys []string) error {
	s := b.sess()
	if s == nil {
		return errNotOpen
	}
	err := s.Start(ctx, keys)
	if err != nil { // Start closed the session
		b.mu.Lock()
		b.s = nil
		b.mu.Unlock()
	}
	return err
}

func (b *SessionBackend) SetServices(ctx context.Context, keys []string) error {
	s := b.sess()
	if s == nil {
		return errNotOpen
	}
	return s.SetServices(ctx, keys)
}

func (b *SessionBackend) Status(ctx context.Context) (Status, error) {
	s := b.sess()
	if s == nil {
		return Status{}, errNotOpen
	}
	st := s.State()
	out := Status{CertNotAfter: st.CertNotAfter, Renewals: st.Renewals, LastError: st.LastError, Renewal: st.RenewalTrouble, Stale: st.CatalogueStale}
	rs, err := session.ReadStatus(ctx, b.Config.StateDir)
	if err != nil || len(rs.Services) == 0 {
		for _, js := range st.Services {
			out.Services = append(out.Services, session.ServiceStatus{JoinedService: js})
		}
		return out, err
	}
	out.Services = rs.Services
	return out, nil
}

func (b *SessionBackend) ProxyDone() <-chan struct{} {
	if s := b.sess(); s != nil {
		return s.ProxyDone()
	}
	return nil
}

func (b *SessionBackend) Leave(ctx context.Context) error {
	b.mu.Lock()
	s := b.s
	b.s = nil
	b.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Leave(ctx)
}

func (b *SessionBackend) Close() error {
	b.mu.Lock()
	s := b.s
	b.s = nil
	b.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Close()
}

// ServiceAccounts lists the service accounts of the namespaces the user may list service
// accounts in, keeping those the user may create tokens for (SelfSubjectAccessReview).
func (b *SessionBackend) ServiceAccounts(ctx context.Context, limit int) ([]string, error) {
	c := b.Config.Client
	if c == nil {
		return nil, errors.New("no cluster connection")
	}
	nss, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{Limit: 200})
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	allowed := func(ns, verb, resource, sub, name string) bool {
		r, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: resource, Subresource: sub, Name: name},
		}}, metav1.CreateOptions{})
		return err == nil && r.Status.Allowed
	}
	var out []string
	for _, ns := range nss.Items {
		if len(out) >= limit {
			break
		}
		if !allowed(ns.Name, "list", "serviceaccounts", "", "") {
			continue
		}
		sas, err := c.CoreV1().ServiceAccounts(ns.Name).List(ctx, metav1.ListOptions{Limit: 50})
		if err != nil {
			continue
		}
		for _, sa := range sas.Items {
			if len(out) >= limit {
				break
			}
			if allowed(ns.Name, "create", "serviceaccounts", "token", sa.Name) {
				out = append(out, ns.Name+"/"+sa.Name)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// AttachBackend is a Backend for the background session (`meshjoin up`): the dashboard reads
// it, and add and remove act on it, through its control socket. Leaving detaches: the
// session keeps running; End ends it.
type AttachBackend struct {
	c        *daemon.Client
	progress chan session.Event

	mu   sync.Mutex
	att  *daemon.Attachment
	gone chan struct{} // closed when the session ends under us
}

// NewAttachBackend returns a backend for the background session c talks to.
func NewAttachBackend(c *daemon.Client) *AttachBackend {
	return &AttachBackend{c: c, progress: make(chan session.Event), gone: make(chan struct{})}
}

// Ender is a Backend whose session can be ended apart from leaving the TUI.
type Ender interface {
	End(ctx context.Context) error
}

func (b *AttachBackend) Open(ctx context.Context, _ string) (Info, error) {
	st, err := b.c.Status(ctx)
	if err != nil {
		return Info{}, err
	}
	if st.State == nil {
		return Info{}, errors.New("the background session is not joined yet")
	}
	att, err := b.c.Attach(context.WithoutCancel(ctx), false)
	if err != nil {
		return Info{}, err
	}
	b.mu.Lock()
	b.att = att
	b.mu.Unlock()
	go func() {
		for range att.Updates {
		}
		close(b.gone)
	}()
	td, _, _ := strings.Cut(strings.TrimPrefix(st.State.Identity, "spiffe://"), "/")
	return Info{TrustDomain: td, Gateway: st.State.Gateway, Identity: st.State.Identity}, nil
}

func (b *AttachBackend) Services() []mesh.Service {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	svcs, _ := b.c.Catalog(ctx)
	return svcs
}

func (b *AttachBackend) Changes() <-chan struct{}       { return nil }
func (b *AttachBackend) Progress() <-chan session.Event { return b.progress }

func (b *AttachBackend) Start(ctx context.Context, keys []string) error {
	return b.SetServices(ctx, keys)
}

func (b *AttachBackend) SetServices(ctx context.Context, keys []string) error {
	_, err := b.c.AddServices(ctx, daemon.ServicesRequest{Add: keys, Replace: true})
	return err
}

func (b *AttachBackend) Status(ctx context.Context) (Status, error) {
	st, err := b.c.Status(ctx)
	if err != nil || st.State == nil {
		return Status{}, err
	}
	return Status{Services: st.Services, CertNotAfter: st.State.CertNotAfter, Renewals: st.State.Renewals, LastError: st.State.LastError, Renewal: st.State.RenewalTrouble, Stale: st.State.CatalogueStale}, nil
}

// ProxyDone is closed when the session ends (down, or Envoy exiting, seen by the daemon).
func (b *AttachBackend) ProxyDone() <-chan struct{} { return b.gone }

// Leave detaches; the session keeps running.
func (b *AttachBackend) Leave(context.Context) error { return b.Close() }

func (b *AttachBackend) Close() error {
	b.mu.Lock()
	att := b.att
	b.att = nil
	b.mu.Unlock()
	if att != nil {
		att.Close()
	}
	return nil
}

// End ends the background session and waits until it is gone.
func (b *AttachBackend) End(ctx context.Context) error {
	if _, err := b.c.Down(ctx, 0); err != nil {
		return err
	}
	b.Close()
	for {
		if _, err := b.c.Status(ctx); errors.Is(err, daemon.ErrNotRunning) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (b *AttachBackend) ServiceAccounts(context.Context, int) ([]string, error) { return nil, nil }
