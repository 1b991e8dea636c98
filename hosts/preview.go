package hosts

import "fmt"

// Preview is the content a hosts file would have after Apply(entries) by owner, computed
// from its current content without writing anything (for `--dry-run`), and the names Apply
// would leave out.
func Preview(content []byte, owner string, entries []Entry) ([]byte, []Rejected, error) {
	if err := validateOwner(owner); err != nil {
		return nil, nil, err
	}
	desired, rejected := normalize(entries)
	out, err := edit(content, owner, desired, false)
	if err != nil {
		return nil, rejected, fmt.Errorf("hosts file: %w", err)
	}
	return out, rejected, nil
}
