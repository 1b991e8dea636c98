// Command meshjoin joins this workstation to an Istio mesh: `meshjoin join ratings.bookinfo`
// makes http://ratings.bookinfo:9080 answer through the mesh, with the mesh's mTLS identity.
package main

import "os"

func main() { os.Exit(Main(os.Args[1:], defaultStreams())) }
