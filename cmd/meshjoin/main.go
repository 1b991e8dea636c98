// Command meshjoin joins this workstation to an Istio mesh: `meshjoin join ratings.bookinfo`
// makes http://ratings.bookinfo:9080 answer through the mesh, with the mesh's mTLS identity.
package main

import (
	"os"
	"runtime/debug"
)

// gcPercent is the garbage collector's target for meshjoin's processes. A session lives for
// hours holding the mesh's catalogue (about 50 MB at 10,000 services) and allocates little once
// it is up; Go's default of 100 lets the heap grow to twice what is live, which kept as much
// again resident for nothing. At 50 the collector runs more often, which an idle session does
// not notice (docs/benchmarks.md, "Memory"). A GOGC set by the user wins.
const gcPercent = 50

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(Main(os.Args[1:], defaultStreams()))
}
