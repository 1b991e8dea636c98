package helper

import (
	"fmt"
	"net"
	"net/netip"
)

// InterfaceAddr is an address of a network interface.
type InterfaceAddr struct {
	Interface string
	Prefix    netip.Prefix
}

// RangeOverlap says which non-loopback interface address lies in (or around) r, or "": such
// an address would make a service's name lead off this machine, or capture that network's
// traffic. Checked at install and by doctor.
func RangeOverlap(r netip.Prefix, addrs []InterfaceAddr) string {
	for _, a := range addrs {
		if a.Prefix.Overlaps(r) {
			return fmt.Sprintf("address range %s overlaps %s on interface %s", r, a.Prefix, a.Interface)
		}
	}
	return ""
}

// NonLoopbackAddrs lists the addresses of this machine's interfaces other than loopback ones.
func NonLoopbackAddrs() ([]InterfaceAddr, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []InterfaceAddr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", ifc.Name, err)
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			bits, _ := ipn.Mask.Size()
			ip = ip.Unmap()
			if ip.Is4() && bits > 32 {
				bits -= 96
			}
			out = append(out, InterfaceAddr{Interface: ifc.Name, Prefix: netip.PrefixFrom(ip, bits)})
		}
	}
	return out, nil
}

// CheckRangeHere checks r against CheckRange and this machine's interfaces.
func CheckRangeHere(r netip.Prefix) error {
	if err := CheckRange(r); err != nil {
		return refusal(KindUsage, "pass --range with a prefix inside 127.0.0.0/8, such as 127.77.0.0/16", "%v", err)
	}
	addrs, err := NonLoopbackAddrs()
	if err != nil {
		return fmt.Errorf("list network interfaces: %w", err)
	}
	if why := RangeOverlap(r, addrs); why != "" {
		return refusal(KindConflict, "choose a range no interface uses (--range, and meshjoin's --address-range), or remove that address from the interface", "%s", why)
	}
	return nil
}
