package session

import "fmt"

// openHosts opens (and locks) the hosts file once per session; it stays open until teardown.
func (s *Session) openHosts() error {
	if s.hostsW != nil {
		return nil
	}
	w, err := newHostsWriter(s.cfg.HostsFile, s.id, s.cfg.ElevateHosts)
	if err != nil {
		return err
	}
	s.hostsW = w
	return nil
}

// writeHosts makes the hosts block hold the state's services; proxy mode has none.
func (s *Session) writeHosts() error {
	if s.cfg.Mode == ModeProxy {
		return nil
	}
	return s.step(StepHosts, func() (string, error) {
		if err := s.openHosts(); err != nil {
			return "", err
		}
		s.mu.Lock()
		entries := hostsEntries(s.state.Services)
		s.state.HostsWritten = true // before the write: a crash mid-write still cleans up
		s.mu.Unlock()
		s.save()
		rejected, err := s.hostsW.Apply(entries)
		if err != nil && !ownsHostsBlock(s.hostsW, s.id) {
			// Nothing of ours is in the file: no record that would make teardown, leave or the
			// next join try to undo it.
			s.mu.Lock()
			s.state.HostsWritten = false
			s.mu.Unlock()
			s.save()
		}
		for _, r := range rejected {
			s.log.Warn("name not written to the hosts file", "name", r.Name, "reason", r.Reason)
		}
		s.noteRejected(rejected)
		return fmt.Sprintf("%d names in %s", countNames(entries), s.cfg.HostsFile), err
	})
}
