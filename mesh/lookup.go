package mesh

import (
	"slices"
	"sort"
	"strings"
)

// nameRef is one service a lookup name leads to. Weak names (a bare "name") only count when no
// strong name (a key, FQDN or host) matches.
type nameRef struct {
	key  objKey
	weak bool
}

// lookupNames are the names indexed for s, lower-cased: its key ("name.namespace"), a
// ServiceEntry's hosts, and the bare name (weak). The other forms a user may type ("ns/name",
// and a Service's ".svc" and FQDN forms) are brought back to the key by Lookup instead of being
// indexed: with 10,000 services that is 30,000 fewer entries.
func (c *Catalog) lookupNames(s *Service) (strong []string, weak string) {
	strong = append(strong, strings.ToLower(s.Key()))
	if s.Kind == KindServiceEntry {
		for _, h := range s.Hosts {
			strong = append(strong, strings.ToLower(h))
		}
	}
	return strong, strings.ToLower(s.Name)
}

// keyForm brings a lower-cased query in one of the derived forms back to a key: "ns/name" (any
// kind), "name.ns.svc" and "name.ns.svc.<clusterDomain>" (Services only).
func (c *Catalog) keyForm(q string) (key string, servicesOnly, ok bool) {
	if ns, name, found := strings.Cut(q, "/"); found {
		return name + "." + ns, false, true
	}
	for _, suffix := range []string{".svc." + strings.ToLower(c.clusterDomain), ".svc"} {
		if key, found := strings.CutSuffix(q, suffix); found {
			return key, true, true
		}
	}
	return "", false, false
}

// refsLocked are the services q names: by an indexed name, or by a derived form of a key.
func (c *Catalog) refsLocked(q string) []nameRef {
	refs := slices.Clone(c.names[q])
	key, servicesOnly, ok := c.keyForm(q)
	if !ok {
		return refs
	}
	for _, r := range c.names[key] {
		if r.weak || servicesOnly && r.key.kind != KindService || strings.ToLower(r.key.name+"."+r.key.ns) != key {
			continue // a ServiceEntry host that happens to read like a key is not one
		}
		if !slices.ContainsFunc(refs, func(o nameRef) bool { return o.key == r.key }) {
			refs = append(refs, r)
		}
	}
	return refs
}

func (c *Catalog) indexNames(s *Service) {
	strong, weak := c.lookupNames(s)
	k := keyOf(s)
	add := func(name string, w bool) {
		refs := c.names[name]
		// The refs of one service are added together, so a repeat can only be the last one.
		if n := len(refs); n > 0 && refs[n-1].key == k {
			return
		}
		c.names[name] = append(refs, nameRef{key: k, weak: w})
	}
	for _, n := range strong {
		add(n, false)
	}
	if weak != "" {
		add(weak, true)
	}
}

func (c *Catalog) unindexNames(s *Service) {
	strong, weak := c.lookupNames(s)
	k := keyOf(s)
	if weak != "" {
		strong = append(strong, weak)
	}
	for _, n := range strong {
		refs := slices.DeleteFunc(c.names[n], func(r nameRef) bool { return r.key == k })
		if len(refs) == 0 {
			delete(c.names, n)
		} else {
			c.names[n] = refs
		}
	}
}

// Lookup finds one service by the name a user typed: "svc.ns", "svc.ns.svc",
// "svc.ns.svc.<clusterDomain>", "ns/svc", a ServiceEntry host, or a bare name when it is
// unique. Case and a trailing dot are ignored. It returns *ErrUnknownService (with close
// matches) or *ErrAmbiguousService (with the candidates).
func (c *Catalog) Lookup(name string) (Service, error) {
	q := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshLocked()

	refs := c.refsLocked(q)
	var strong, weak []objKey
	for _, r := range refs {
		if r.weak {
			weak = append(weak, r.key)
		} else {
			strong = append(strong, r.key)
		}
	}
	found := strong
	if len(found) == 0 {
		found = weak
	}
	switch len(found) {
	case 0:
		return Service{}, &ErrUnknownService{Name: name, Suggestions: c.suggestLocked(q, 3)}
	case 1:
		return *c.byKey[found[0]], nil
	}
	cands := make([]string, 0, len(found))
	for _, k := range found {
		s := c.byKey[k]
		label := s.Key()
		if s.Kind == KindServiceEntry {
			label += " (ServiceEntry)"
		}
		cands = append(cands, label)
	}
	sort.Strings(cands)
	return Service{}, &ErrAmbiguousService{Name: name, Candidates: cands}
}

// suggestLocked returns up to n names close to q by edit distance: keys ("name.namespace"),
// ServiceEntry hosts, and bare names when q has no dot.
func (c *Catalog) suggestLocked(q string, n int) []string {
	q = strings.TrimSuffix(q, ".svc."+strings.ToLower(c.clusterDomain))
	q = strings.TrimSuffix(q, ".svc")
	if i := strings.IndexByte(q, '/'); i >= 0 { // "ns/name" → "name.ns"
		q = q[i+1:] + "." + q[:i]
	}
	limit := 2 // a typo or two, as cobra suggests commands
	if len(q) >= 12 {
		limit = 3
	}
	type match struct {
		text string
		dist int
	}
	var best []match
	bareQuery := !strings.Contains(q, ".")
	for _, s := range c.list {
		cands := []string{s.Key()}
		if bareQuery {
			cands = append(cands, s.Name)
		}
		if s.Kind == KindServiceEntry {
			cands = append(cands, s.Hosts...)
		}
		m := match{dist: limit + 1}
		for _, cand := range cands {
			if d := editDistance(q, strings.ToLower(cand), limit); d < m.dist {
				m = match{text: cand, dist: d}
				if cand == s.Name {
					m.text = s.Key() // suggest something unambiguous
				}
			}
		}
		if m.dist <= limit {
			best = append(best, m)
		}
	}
	sort.Slice(best, func(i, j int) bool {
		if best[i].dist != best[j].dist {
			return best[i].dist < best[j].dist
		}
		return best[i].text < best[j].text
	})
	var out []string
	for _, m := range best {
		if !slices.Contains(out, m.text) {
			out = append(out, m.text)
		}
		if len(out) == n {
			break
		}
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, or limit+1 as soon as it is
// known to exceed limit.
func editDistance(a, b string, limit int) int {
	if isASCII(a) && isASCII(b) {
		return levenshtein([]byte(a), []byte(b), limit)
	}
	return levenshtein([]rune(a), []rune(b), limit)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func levenshtein[T byte | rune](ra, rb []T, limit int) int {
	if d := len(ra) - len(rb); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
