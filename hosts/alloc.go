package hosts

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"
)

// DefaultPrefix is the loopback range services get addresses from unless told otherwise.
var DefaultPrefix = netip.MustParsePrefix("127.77.0.0/16")

// Allocator hands out loopback addresses for mesh services. The prefix must lie inside
// 127.0.0.0/8; the zero Allocator uses 127.77.0.0/16.
type Allocator struct{ Prefix netip.Prefix }

// AddressFor returns the address for key (a service such as "ratings.bookinfo"): a hash of the
// key into the prefix, so a service keeps its address across runs and a laptop's browser tabs and
// config keep working. Addresses ending in .0 or .255, the prefix's first and last address and
// 127.0.0.1 are never handed out; on a collision with taken the next free address is used, so
// callers should fill taken in a stable order (sorted keys) for stable results.
//
// The hash is FNV-1a 64; changing it would move every service's address.
func (a Allocator) AddressFor(key string, taken map[netip.Addr]bool) (netip.Addr, error) {
	p := a.Prefix
	if !p.IsValid() {
		p = DefaultPrefix
	}
	p = p.Masked()
	// Envoy listens on these addresses: anything outside loopback could capture real traffic.
	if !p.Addr().Is4() || p.Bits() < loopback.Bits() || !loopback.Contains(p.Addr()) {
		return netip.Addr{}, fmt.Errorf("address prefix %s is not inside %s: choose a loopback prefix such as %s", p, loopback, DefaultPrefix)
	}
	size := uint64(1) << (32 - p.Bits())
	b := p.Addr().As4()
	base := binary.BigEndian.Uint32(b[:])
	h := fnv.New64a()
	h.Write([]byte(key))
	start := h.Sum64() % size
	for i := range size {
		off := (start + i) % size
		if off == 0 || off == size-1 {
			continue // network and broadcast address of the prefix
		}
		var ab [4]byte
		binary.BigEndian.PutUint32(ab[:], base+uint32(off))
		addr := netip.AddrFrom4(ab)
		if ab[3] == 0 || ab[3] == 255 || addr == localhost || taken[addr] {
			continue
		}
		return addr, nil
	}
	return netip.Addr{}, fmt.Errorf("no free address left in %s for %q (%d taken): use a larger prefix", p, key, len(taken))
}

var (
	loopback  = netip.MustParsePrefix("127.0.0.0/8")
	localhost = netip.AddrFrom4([4]byte{127, 0, 0, 1})
)
