package hosts

import (
	"fmt"
	"net/netip"
)

// Example of the block RenderBlock writes.
func ExampleRenderBlock() {
	fmt.Printf("%s", RenderBlock("3f2a9c", []Entry{{
		IP:    netip.MustParseAddr("127.77.119.84"),
		Names: []string{"ratings.bookinfo.svc.cluster.local", "ratings.bookinfo.svc", "ratings.bookinfo"},
	}}))
	// Output:
	// # BEGIN meshjoin 3f2a9c (managed by meshjoin; do not edit)
	// 127.77.119.84    ratings.bookinfo.svc.cluster.local ratings.bookinfo.svc ratings.bookinfo
	// # END meshjoin
}
