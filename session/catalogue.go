package session

import (
	"time"

	"github.com/meshjoin/meshjoin/mesh"
)

// Catalogue freshness: while the cluster API does not answer, the session keeps serving the
// services it joined with the catalogue it has, says so in its state (status, TUI), and
// refuses to join new services (the catalogue may be out of date); it follows the catalogue
// back to fresh when the API answers again.

// CatalogueStale is set in State while the catalogue may be out of date.
type CatalogueStale struct {
	Since time.Time `json:"since"`
	Cause string    `json:"cause"` // e.g. "cluster API unreachable: ..."
}

// Summary is the line status shows.
func (c *CatalogueStale) Summary() string {
	return "the service catalogue is stale since " + c.Since.Local().Format(time.TimeOnly) + " (" + c.Cause +
		"): joined services keep working with what was known; new services cannot be joined until the cluster API answers"
}

// freshnessCheck is how often the session copies the catalogue's freshness into its state.
const freshnessCheck = time.Second

// followFreshness keeps State.CatalogueStale up to date until the session ends.
func (s *Session) followFreshness() {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		t := time.NewTicker(freshnessCheck)
		defer t.Stop()
		for {
			select {
			case <-s.life.Done():
				return
			case <-t.C:
			}
			f := s.catalog.Freshness()
			s.mu.Lock()
			now, changed := staleness(s.state.CatalogueStale, f)
			s.state.CatalogueStale = now
			s.mu.Unlock()
			if changed {
				if f.Stale() {
					s.log.Warn("service catalogue stale", "since", f.StaleSince, "cause", f.Cause)
				} else {
					s.log.Info("service catalogue fresh again")
				}
				s.save()
			}
		}
	}()
}

// staleness is what State.CatalogueStale becomes for f, and whether that differs from was.
func staleness(was *CatalogueStale, f mesh.Freshness) (*CatalogueStale, bool) {
	if !f.Stale() {
		return nil, was != nil
	}
	if was != nil && was.Since.Equal(f.StaleSince) && was.Cause == f.Cause {
		return was, false
	}
	return &CatalogueStale{Since: f.StaleSince, Cause: f.Cause}, true
}

// refuseNewWhileStale returns a *mesh.StaleError when joined has a service not joined now and
// the catalogue is stale.
func (s *Session) refuseNewWhileStale(joined []JoinedService) error {
	f := s.catalog.Freshness()
	if !f.Stale() {
		return nil
	}
	now := map[string]bool{}
	for _, js := range s.Services() {
		now[js.Key] = true
	}
	for _, js := range joined {
		if !now[js.Key] {
			return &mesh.StaleError{Freshness: f}
		}
	}
	return nil
}
