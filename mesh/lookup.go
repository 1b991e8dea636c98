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

// lookupNames are the names a user may type for s, lower-cased.
func (c *Catalog) lookupNames(s *Service) (strong []string, weak string) {
	key := strings.ToLower(s.Key())
	strong = append(strong, key, strings.ToLower(s.Namespace+"/"+s.Name))
	if s.Kind == KindService {
		strong = append(strong, key+".svc", key+".svc."+strings.ToLower(c.clusterDomain))
	}
	for _, h := range s.Hosts {
		strong = append(strong, strings.ToLower(h))
	}
	return strong, strings.ToLower(s.Name)
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

	refs := c.names[q]
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
	for i := range c.list {
		s := &c.list[i]
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
