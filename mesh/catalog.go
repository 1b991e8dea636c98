// Over 500 lines: the catalogue's informers, snapshot and change notification, one concurrency design kept in one place.

package mesh

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// ServiceEntry API versions, newest first: the catalogue uses the first one served.
var serviceEntryVersions = []schema.GroupVersionResource{
	{Group: "networking.istio.io", Version: "v1", Resource: "serviceentries"},
	{Group: "networking.istio.io", Version: "v1beta1", Resource: "serviceentries"},
	{Group: "networking.istio.io", Version: "v1alpha3", Resource: "serviceentries"},
}

// workloadEntryVersions: the VMs (and other non-pod workloads) a ServiceEntry may select.
var workloadEntryVersions = []schema.GroupVersionResource{
	{Group: "networking.istio.io", Version: "v1", Resource: "workloadentries"},
	{Group: "networking.istio.io", Version: "v1beta1", Resource: "workloadentries"},
	{Group: "networking.istio.io", Version: "v1alpha3", Resource: "workloadentries"},
}

// Informer index names.
const (
	indexSliceByService = "meshjoin/service" // EndpointSlice by "ns/service"
	indexSliceByPod     = "meshjoin/pod"     // EndpointSlice by "ns/pod" of its targetRefs
	indexPodByLabel     = "meshjoin/label"   // Pod by "ns/key=value" of each label
)

// CatalogOptions tune a Catalog.
type CatalogOptions struct {
	ClusterDomain string        // the cluster's DNS domain; default cluster.local
	SyncTimeout   time.Duration // how long Start waits for the first full list; default 60s
	// GatewayPort is the port of the east-west gateway's AUTO_PASSTHROUGH server; default
	// DefaultPassthroughPort.
	GatewayPort uint32
}

// Catalog is a live, read-only catalogue of the services in the cluster, kept by informers.
// Its methods are safe for concurrent use. Work is done lazily: events only mark the affected
// services, which are rebuilt when Services or Lookup is next called.
type Catalog struct {
	client        kubernetes.Interface
	dyn           dynamic.Interface
	trustDomain   string
	aliases       []string
	rootNamespace string
	clusterDomain string
	syncTimeout   time.Duration
	changes       chan struct{}
	started       atomic.Bool
	// synced is set once the first full list is in: before that, pod and namespace events
	// skip working out which services they touch, since Start then rebuilds everything.
	synced atomic.Bool

	// Set by Start before the informers run; read-only afterwards.
	namespaces  cache.SharedIndexInformer
	services    cache.SharedIndexInformer
	slices      cache.SharedIndexInformer
	pods        cache.SharedIndexInformer // nil when pods cannot be read
	entries     cache.SharedIndexInformer // nil when ServiceEntries are not served or not readable
	peerAuths   cache.SharedIndexInformer // nil when PeerAuthentications are not served or not readable
	gateways    cache.SharedIndexInformer // Istio Gateways; nil when not served or not readable
	gatewayPort uint32
	// workloadEntries is nil when WorkloadEntries are not served or not readable; unreadable
	// says which (only then are the identities of VMs unknown).
	workloadEntries           cache.SharedIndexInformer
	workloadEntriesUnreadable bool
	entriesGVR                schema.GroupVersionResource
	// handlersSynced tells, per resource, whether our event handler has seen the first full list
	// (an informer's own HasSynced only covers its cache, not the handlers).
	handlersSynced map[string]cache.InformerSynced

	mu        sync.Mutex
	dirty     map[objKey]struct{}
	byKey     map[objKey]*Service // as published: without the hosts another service owns
	raw       map[objKey]*Service // as built from the object alone
	claims    map[string][]objKey // lower-cased host → the ServiceEntries that claim it (see claimNames)
	claimInfo map[objKey]claim
	list      []*Service // sorted by namespace, name, kind; the same entries as byKey
	names     map[string][]nameRef
	podMemo   map[string][]any  // pod label index answers during one refresh
	rejected  map[objKey]string // objects left out entirely, and why
	warnings  []string
	watchErrs map[string]error     // resource → latest list/watch error
	stale     map[string]staleMark // what makes the catalogue stale now, by resource ("": liveness); health.go
	gate      *apiGate             // holds the informers while the API server is down; gate.go
}

// objKey names one catalogue entry.
type objKey struct {
	ns, name string
	kind     Kind
}

func (k objKey) compare(o objKey) int {
	if c := cmp.Compare(k.ns, o.ns); c != 0 {
		return c
	}
	if c := cmp.Compare(k.name, o.name); c != 0 {
		return c
	}
	return cmp.Compare(k.kind, o.kind)
}

func keyOf(s *Service) objKey { return objKey{ns: s.Namespace, name: s.Name, kind: s.Kind} }

// NewCatalog prepares a catalogue; Start fills it. dyn may be nil, and then ServiceEntries
// are left out. cfg gives the trust domain (and aliases) of the identities; nil means the
// defaults.
func NewCatalog(client kubernetes.Interface, dyn dynamic.Interface, cfg *Config, opts CatalogOptions) *Catalog {
	c := &Catalog{
		client:        client,
		dyn:           dyn,
		trustDomain:   DefaultTrustDomain,
		rootNamespace: DefaultRootNamespace,
		clusterDomain: opts.ClusterDomain,
		syncTimeout:   opts.SyncTimeout,
		changes:       make(chan struct{}, 1),
		dirty:         map[objKey]struct{}{},
		byKey:         map[objKey]*Service{},
		raw:           map[objKey]*Service{},
		claims:        map[string][]objKey{},
		claimInfo:     map[objKey]claim{},
		names:         map[string][]nameRef{},
		watchErrs:     map[string]error{},
		stale:         map[string]staleMark{},
		gate:          newAPIGate(),
		rejected:      map[objKey]string{},
	}
	if cfg != nil {
		if cfg.TrustDomain != "" {
			c.trustDomain = cfg.TrustDomain
		}
		c.aliases = slices.Clone(cfg.Aliases)
		if cfg.RootNamespace != "" {
			c.rootNamespace = cfg.RootNamespace
		}
	}
	if c.clusterDomain == "" {
		c.clusterDomain = DefaultClusterDomain
	}
	if c.syncTimeout <= 0 {
		c.syncTimeout = 60 * time.Second
	}
	c.gatewayPort = opts.GatewayPort
	if c.gatewayPort == 0 {
		c.gatewayPort = DefaultPassthroughPort
	}
	return c
}

// Start checks the permissions the catalogue needs, starts the informers and waits until
// they have listed everything once (SyncTimeout, or ctx, whichever ends first). ctx is the
// catalogue's lifetime, not just the wait's: the informers run until it is cancelled, so bound
// the wait with CatalogOptions.SyncTimeout rather than a ctx deadline.
//
// Namespaces, Services and EndpointSlices across all namespaces are required: a forbidden list
// returns *ErrForbidden. Pods are optional: without them identities are not exact (see
// Service.IdentitiesExact) and Warnings says so. ServiceEntries are optional: an API that is
// not served is skipped silently, a forbidden one with a warning.
func (c *Catalog) Start(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("catalog already started")
	}
	probe := metav1.ListOptions{Limit: 1}
	required := []struct {
		resource string
		list     func() error
	}{
		{"namespaces", func() error { _, err := c.client.CoreV1().Namespaces().List(ctx, probe); return err }},
		{"services", func() error { _, err := c.client.CoreV1().Services("").List(ctx, probe); return err }},
		{"endpointslices.discovery.k8s.io", func() error {
			_, err := c.client.DiscoveryV1().EndpointSlices("").List(ctx, probe)
			return err
		}},
	}
	for _, r := range required {
		if err := r.list(); err != nil {
			return fmt.Errorf("service catalogue: %w", apiError(err, "list", r.resource, "", ""))
		}
	}
	podsReadable := true
	if _, err := c.client.CoreV1().Pods("").List(ctx, probe); err != nil {
		if !apierrors.IsForbidden(err) {
			return fmt.Errorf("service catalogue: %w", apiError(err, "list", "pods", "", ""))
		}
		podsReadable = false
		c.addWarning(fmt.Sprintf("pods cannot be read (`%s`): the identity check of every service falls back to the trust-domain prefix spiffe://%s/",
			(&ErrForbidden{Verb: "list", Resource: "pods"}).CanI(), c.trustDomain))
	}
	entriesGVR, entriesOK, _ := c.probeDynamic(ctx, probe, serviceEntryVersions, "ServiceEntries", "they are left out")
	peerGVR, peerOK, _ := c.probeDynamic(ctx, probe, peerAuthenticationVersions, "PeerAuthentications",
		"a service whose sidecars have mTLS disabled looks reachable, and its requests fail")
	gwGVR, gwOK, _ := c.probeDynamic(ctx, probe, gatewayVersions, "Gateways",
		"a service the east-west gateway does not route (its host outside the AUTO_PASSTHROUGH server's hosts) looks joinable, and its requests fail")
	var weGVR schema.GroupVersionResource
	var weOK bool
	if entriesOK {
		weGVR, weOK, c.workloadEntriesUnreadable = c.probeDynamic(ctx, probe, workloadEntryVersions, "WorkloadEntries",
			"a ServiceEntry that selects VMs checks their identity against the trust-domain prefix only")
	}

	// Every informer lists and watches behind the gate (gate.go); the typed ones through the
	// factory, which starts and stops them, the dynamic ones on their own.
	factory := informers.NewSharedInformerFactoryWithOptions(c.client, 0)
	typed := func(obj runtime.Object, lw *cache.ListWatch, indexers cache.Indexers) cache.SharedIndexInformer {
		return factory.InformerFor(obj, func(kubernetes.Interface, time.Duration) cache.SharedIndexInformer {
			return c.gate.informer(lw, c.client, obj, cache.SharedIndexInformerOptions{Indexers: indexers})
		})
	}
	core := c.client.CoreV1()
	byNamespace := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	c.namespaces = typed(&corev1.Namespace{}, listWatch(core.Namespaces()), nil)
	c.services = typed(&corev1.Service{}, listWatch(core.Services("")), byNamespace)
	// Slices and pods get only the indexes read here: a namespace index is never used for
	// them, and with 10,000 services it costs megabytes.
	c.slices = typed(&discoveryv1.EndpointSlice{}, listWatch(c.client.DiscoveryV1().EndpointSlices("")),
		cache.Indexers{indexSliceByService: sliceServiceIndex, indexSliceByPod: slicePodIndex})
	if podsReadable {
		c.pods = typed(&corev1.Pod{}, listWatch(core.Pods("")), cache.Indexers{indexPodByLabel: podLabelIndex})
	}
	var dynamicInformers []cache.SharedIndexInformer
	dynamic := func(gvr schema.GroupVersionResource) cache.SharedIndexInformer {
		inf := c.gate.informer(listWatch(c.dyn.Resource(gvr)), c.dyn, &unstructured.Unstructured{},
			cache.SharedIndexInformerOptions{Indexers: byNamespace, ObjectDescription: gvr.String()})
		dynamicInformers = append(dynamicInformers, inf)
		return inf
	}
	if weOK {
		c.workloadEntries = dynamic(weGVR)
	}
	if entriesOK {
		c.entries = dynamic(entriesGVR)
		c.entriesGVR = entriesGVR
	}
	if peerOK {
		c.peerAuths = dynamic(peerGVR)
	}
	if gwOK {
		c.gateways = dynamic(gwGVR)
	}
	if err := c.setUpInformers(); err != nil {
		return fmt.Errorf("service catalogue: %w", err)
	}

	factory.Start(ctx.Done())
	var dynamicRunning sync.WaitGroup
	for _, inf := range dynamicInformers {
		dynamicRunning.Go(func() { inf.RunWithContext(ctx) })
	}
	go func() {
		<-ctx.Done()
		factory.Shutdown()
		dynamicRunning.Wait()
	}()
	if err := c.waitForSync(ctx); err != nil {
		return err
	}
	go c.checkLiveness(ctx)
	return nil
}

// probeDynamic finds the newest version of an Istio resource served, e.g. ServiceEntries.
// A resource that is not served is left out silently (ok false, unreadable false), one that
// cannot be read with a warning that says what it costs (ok false, unreadable true).
func (c *Catalog) probeDynamic(ctx context.Context, probe metav1.ListOptions, versions []schema.GroupVersionResource, kind, cost string) (gvr schema.GroupVersionResource, ok, unreadable bool) {
	if c.dyn == nil {
		return schema.GroupVersionResource{}, false, false
	}
	for _, gvr := range versions {
		_, err := c.dyn.Resource(gvr).List(ctx, probe)
		switch {
		case err == nil:
			return gvr, true, false
		case apierrors.IsNotFound(err):
			continue // this version, or the CRD, is not there
		case apierrors.IsForbidden(err):
			c.addWarning(fmt.Sprintf("%s cannot be read (`%s`): %s", kind,
				(&ErrForbidden{Verb: "list", Resource: gvr.Resource + "." + gvr.Group}).CanI(), cost))
		default:
			c.addWarning(fmt.Sprintf("%s: list %s: %v; %s", kind, gvr.GroupVersion(), err, cost))
		}
		return schema.GroupVersionResource{}, false, true
	}
	return schema.GroupVersionResource{}, false, false
}

func (c *Catalog) informers() map[string]cache.SharedIndexInformer {
	m := map[string]cache.SharedIndexInformer{
		"namespaces":                      c.namespaces,
		"services":                        c.services,
		"endpointslices.discovery.k8s.io": c.slices,
	}
	if c.pods != nil {
		m["pods"] = c.pods
	}
	if c.entries != nil {
		m["serviceentries.networking.istio.io"] = c.entries
	}
	if c.peerAuths != nil {
		m["peerauthentications.security.istio.io"] = c.peerAuths
	}
	if c.workloadEntries != nil {
		m["workloadentries.networking.istio.io"] = c.workloadEntries
	}
	if c.gateways != nil {
		m["gateways.networking.istio.io"] = c.gateways
	}
	return m
}

// setUpInformers adds transforms, indexes, error handlers and event handlers.
func (c *Catalog) setUpInformers() error {
	var errs []error
	for resource, inf := range c.informers() {
		errs = append(errs,
			inf.SetTransform(slim),
			inf.SetWatchErrorHandlerWithContext(func(_ context.Context, r *cache.Reflector, err error) {
				c.watchFailed(resource, r.LastSyncResourceVersion(), err)
			}))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	type handler struct {
		resource string
		inf      cache.SharedIndexInformer
		h        cache.ResourceEventHandler
	}
	handlers := []handler{
		{"namespaces", c.namespaces, cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { c.namespaceChanged(obj) },
			UpdateFunc: func(old, cur any) {
				o, ok1 := old.(*corev1.Namespace)
				n, ok2 := cur.(*corev1.Namespace)
				if ok1 && ok2 && maps.Equal(o.Labels, n.Labels) {
					return
				}
				c.namespaceChanged(cur)
			},
			DeleteFunc: func(obj any) { c.namespaceChanged(obj) },
		}},
		{"services", c.services, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.markObject(obj, KindService) },
			UpdateFunc: func(_, cur any) { c.markObject(cur, KindService) },
			DeleteFunc: func(obj any) { c.markObject(obj, KindService) },
		}},
		{"endpointslices.discovery.k8s.io", c.slices, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.sliceChanged(obj) },
			UpdateFunc: func(old, cur any) { c.sliceChanged(old); c.sliceChanged(cur) },
			DeleteFunc: func(obj any) { c.sliceChanged(obj) },
		}},
	}
	if c.pods != nil {
		handlers = append(handlers, handler{"pods", c.pods, cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { c.podChanged(obj) },
			UpdateFunc: func(old, cur any) {
				if !podRelevantChange(old, cur) {
					return
				}
				c.podChanged(old)
				c.podChanged(cur)
			},
			DeleteFunc: func(obj any) { c.podChanged(obj) },
		}})
	}
	if c.entries != nil {
		handlers = append(handlers, handler{"serviceentries.networking.istio.io", c.entries, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.markObject(obj, KindServiceEntry) },
			UpdateFunc: func(_, cur any) { c.markObject(cur, KindServiceEntry) },
			DeleteFunc: func(obj any) { c.markObject(obj, KindServiceEntry) },
		}})
	}
	if c.peerAuths != nil {
		handlers = append(handlers, handler{"peerauthentications.security.istio.io", c.peerAuths, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.peerAuthenticationChanged(obj) },
			UpdateFunc: func(old, cur any) { c.peerAuthenticationChanged(old); c.peerAuthenticationChanged(cur) },
			DeleteFunc: func(obj any) { c.peerAuthenticationChanged(obj) },
		}})
	}
	if c.workloadEntries != nil {
		// A WorkloadEntry's labels and service account matter to the ServiceEntries that
		// select it, all in its namespace.
		mark := func(obj any) {
			if m, ok := metaOf(obj); ok && c.synced.Load() {
				c.markNamespace(m.GetNamespace())
			}
		}
		handlers = append(handlers, handler{"workloadentries.networking.istio.io", c.workloadEntries, cache.ResourceEventHandlerFuncs{
			AddFunc:    mark,
			UpdateFunc: func(_, cur any) { mark(cur) },
			DeleteFunc: mark,
		}})
	}
	if c.gateways != nil {
		// A Gateway's hosts decide for every service which the gateway routes.
		mark := func(any) {
			if c.synced.Load() {
				c.markAll()
			}
		}
		handlers = append(handlers, handler{"gateways.networking.istio.io", c.gateways, cache.ResourceEventHandlerFuncs{
			AddFunc:    mark,
			UpdateFunc: func(_, cur any) { mark(cur) },
			DeleteFunc: mark,
		}})
	}
	c.handlersSynced = map[string]cache.InformerSynced{}
	for _, h := range handlers {
		reg, err := h.inf.AddEventHandler(h.h)
		if err != nil {
			return err
		}
		c.handlersSynced[h.resource] = reg.HasSynced
	}
	return nil
}

// waitForSync waits for every informer's first list, and returns early with *ErrForbidden
// when a required list is denied after all.
func (c *Catalog) waitForSync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.syncTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		synced := true
		var pending []string
		for resource, hasSynced := range c.handlersSynced {
			if !hasSynced() {
				synced = false
				pending = append(pending, resource)
			}
		}
		if synced {
			c.synced.Store(true)
			c.markAll()
			return nil
		}
		sort.Strings(pending)
		c.mu.Lock()
		var lastErr error
		for _, r := range pending {
			err := c.watchErrs[r]
			if err == nil {
				continue
			}
			if apierrors.IsForbidden(err) { // RBAC changed since the permission check
				c.mu.Unlock()
				return fmt.Errorf("service catalogue: %w", apiError(err, "list", r, "", ""))
			}
			lastErr = fmt.Errorf("%s: %w", r, err)
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("service catalogue: the informers for %v did not sync", pending)
			if lastErr != nil {
				return fmt.Errorf("%s: %w", msg, lastErr)
			}
			return fmt.Errorf("%s: %w", msg, ctx.Err())
		case <-tick.C:
		}
	}
}

func (c *Catalog) addWarning(w string) {
	c.mu.Lock()
	c.warnings = append(c.warnings, w)
	c.mu.Unlock()
}

// Warnings are about the catalogue as a whole: what it could not read and what that means,
// and objects left out entirely.
func (c *Catalog) Warnings() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshLocked()
	out := slices.Clone(c.warnings)
	for _, k := range slices.SortedFunc(maps.Keys(c.rejected), objKey.compare) {
		out = append(out, c.rejected[k])
	}
	for _, r := range slices.Sorted(maps.Keys(c.watchErrs)) {
		if err := c.watchErrs[r]; apierrors.IsForbidden(err) {
			out = append(out, fmt.Sprintf("%s can no longer be read: %v", r, err))
		}
	}
	return out
}

// Changes is signalled whenever the catalogue may have changed. Signals are coalesced: one
// pending signal stands for any number of changes. Call Services after receiving.
func (c *Catalog) Changes() <-chan struct{} { return c.changes }

func (c *Catalog) signal() {
	select {
	case c.changes <- struct{}{}:
	default:
	}
}

// Services returns every service, sorted by namespace, then name, then kind.
func (c *Catalog) Services() []Service {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshLocked()
	out := make([]Service, len(c.list))
	for i, s := range c.list {
		out[i] = *s
	}
	return out
}

// mark records that entries need rebuilding.
func (c *Catalog) mark(keys ...objKey) {
	if len(keys) == 0 {
		return
	}
	c.mu.Lock()
	for _, k := range keys {
		c.dirty[k] = struct{}{}
	}
	c.mu.Unlock()
	c.signal()
}

func metaOf(obj any) (metav1.Object, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	return m, ok
}

// markAll marks every Service and ServiceEntry in the caches.
func (c *Catalog) markAll() {
	var keys []objKey
	for _, o := range c.services.GetStore().List() {
		if m, ok := o.(metav1.Object); ok {
			keys = append(keys, objKey{ns: m.GetNamespace(), name: m.GetName(), kind: KindService})
		}
	}
	if c.entries != nil {
		for _, o := range c.entries.GetStore().List() {
			if m, ok := o.(metav1.Object); ok {
				keys = append(keys, objKey{ns: m.GetNamespace(), name: m.GetName(), kind: KindServiceEntry})
			}
		}
	}
	c.mark(keys...)
}

func (c *Catalog) markObject(obj any, kind Kind) {
	if m, ok := metaOf(obj); ok {
		c.mark(objKey{ns: m.GetNamespace(), name: m.GetName(), kind: kind})
	}
}

// namespaceChanged marks everything in the namespace: its labels decide reachability.
func (c *Catalog) namespaceChanged(obj any) {
	m, ok := metaOf(obj)
	if !ok || !c.synced.Load() {
		return
	}
	c.markNamespace(m.GetName())
}

// markNamespace marks every Service and ServiceEntry of namespace ns.
func (c *Catalog) markNamespace(ns string) {
	var keys []objKey
	for _, o := range byIndex(c.services, cache.NamespaceIndex, ns) {
		if svc, ok := o.(*corev1.Service); ok {
			keys = append(keys, objKey{ns: ns, name: svc.Name, kind: KindService})
		}
	}
	if c.entries != nil {
		for _, o := range byIndex(c.entries, cache.NamespaceIndex, ns) {
			if u, ok := o.(*unstructured.Unstructured); ok {
				keys = append(keys, objKey{ns: ns, name: u.GetName(), kind: KindServiceEntry})
			}
		}
	}
	c.mark(keys...)
}

func (c *Catalog) sliceChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	s, ok := obj.(*endpointSlice)
	if !ok {
		return
	}
	if s.Service != "" {
		c.mark(objKey{ns: s.Namespace, name: s.Service, kind: KindService})
	}
}

// podChanged marks the services the pod backs: those whose selector matches it, those whose
// EndpointSlices name it, and ServiceEntries whose workload selector matches it.
func (c *Catalog) podChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok || !c.synced.Load() {
		return
	}
	var keys []objKey
	for _, o := range byIndex(c.services, cache.NamespaceIndex, pod.Namespace) {
		if svc, ok := o.(*corev1.Service); ok && selects(svc.Spec.Selector, pod.Labels) {
			keys = append(keys, objKey{ns: svc.Namespace, name: svc.Name, kind: KindService})
		}
	}
	for _, o := range byIndex(c.slices, indexSliceByPod, pod.Namespace+"/"+pod.Name) {
		if s, ok := o.(*endpointSlice); ok && s.Service != "" {
			keys = append(keys, objKey{ns: s.Namespace, name: s.Service, kind: KindService})
		}
	}
	if c.entries != nil {
		for _, o := range byIndex(c.entries, cache.NamespaceIndex, pod.Namespace) {
			u, ok := o.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			sel, _, _ := unstructured.NestedStringMap(u.Object, "spec", "workloadSelector", "labels")
			if selects(sel, pod.Labels) {
				keys = append(keys, objKey{ns: u.GetNamespace(), name: u.GetName(), kind: KindServiceEntry})
			}
		}
	}
	c.mark(keys...)
}

// podRelevantChange tells whether an update touches what the catalogue reads from a pod.
func podRelevantChange(old, cur any) bool {
	o, ok1 := old.(*corev1.Pod)
	n, ok2 := cur.(*corev1.Pod)
	if !ok1 || !ok2 {
		return true
	}
	return o.Spec.ServiceAccountName != n.Spec.ServiceAccountName ||
		o.Status.Phase != n.Status.Phase ||
		o.Status.PodIP != n.Status.PodIP ||
		podReady(o) != podReady(n) ||
		!maps.Equal(o.Labels, n.Labels) ||
		!maps.Equal(o.Annotations, n.Annotations)
}

// selects is a Service (or workload) selector match; an empty selector selects nothing.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func byIndex(inf cache.SharedIndexInformer, index, value string) []any {
	if inf == nil {
		return nil
	}
	objs, err := inf.GetIndexer().ByIndex(index, value)
	if err != nil {
		return nil
	}
	return objs
}

func sliceServiceIndex(obj any) ([]string, error) {
	s, ok := obj.(*endpointSlice)
	if !ok || s.Service == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + s.Service}, nil
}

func slicePodIndex(obj any) ([]string, error) {
	s, ok := obj.(*endpointSlice)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, ep := range s.Endpoints {
		if ep.Pod != "" {
			out = append(out, ep.Pod)
		}
	}
	return out, nil
}

func podLabelIndex(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	out := make([]string, 0, len(p.Labels))
	for k, v := range p.Labels {
		out = append(out, p.Namespace+"/"+k+"="+v)
	}
	return out, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
