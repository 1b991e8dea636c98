// Command meshjoin-testbed runs the local test mesh in the foreground (`make testbed`) and prints
// how to use it; Ctrl-C stops it and removes everything it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/meshjoin/meshjoin/testbed"
)

func main() {
	var o testbed.Options
	flag.StringVar(&o.TrustDomain, "trust-domain", "cluster.local", "trust domain of the test mesh")
	flag.IntVar(&o.ScaleServices, "scale-services", 0, "add this many synthetic services (objects only)")
	flag.IntVar(&o.ScaleNamespaces, "scale-namespaces", 100, "spread synthetic services over this many namespaces")
	flag.BoolVar(&o.ImitationCA, "imitation-ca", false, "run the in-process CA that imitates istiod instead of the real istiod")
	flag.StringVar(&o.Dir, "dir", "", "keep logs, configs and kubeconfigs here (default: a temp dir removed on exit)")
	kubeconfigOut := flag.String("write-kubeconfig", "", "also copy the developer's kubeconfig to this path")
	flag.Parse()
	o.Log = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	tb, err := testbed.Start(startCtx, o)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshjoin-testbed:", err)
		os.Exit(1)
	}
	defer tb.Stop()
	if *kubeconfigOut != "" {
		b, err := os.ReadFile(tb.DeveloperKubeconfig)
		if err == nil {
			err = os.WriteFile(*kubeconfigOut, b, 0o600)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "meshjoin-testbed: write kubeconfig:", err)
			os.Exit(1)
		}
	}
	fmt.Printf(`
Test mesh ready in %s (trust domain %s).

  developer kubeconfig:  export KUBECONFIG=%s
  admin kubeconfig:      %s
  east-west gateway:     %s (CA through %s, server name %s)
  identity to use:       %s/%s
  logs:                  %s

Try:  meshjoin join ratings.bookinfo --identity %s/%s --envoy-image %s
Stop: Ctrl-C (removes every process and file it started)
`, time.Since(start).Round(time.Millisecond), tb.TrustDomain, tb.DeveloperKubeconfig, tb.AdminKubeconfig,
		tb.GatewayAddr(), tb.CAAddr(), testbed.CAServerName,
		testbed.DeveloperIdentity.Namespace, testbed.DeveloperIdentity.ServiceAccount, tb.Dir,
		testbed.DeveloperIdentity.Namespace, testbed.DeveloperIdentity.ServiceAccount, testbed.EnvoyImage)
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "stopping the test mesh ...")
}
