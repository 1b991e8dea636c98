// Command meshapp stands for the service a developer launches from the IDE: it prints the
// *_SERVICE_HOST/_PORT variables it was started with, then calls MESHAPP_URL (a mesh service by
// name) and prints the answer. With -stay it keeps running until stopped, as a service does.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	stay := flag.Bool("stay", false, "keep running until SIGTERM")
	flag.Parse()
	var vars []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasSuffix(k, "_SERVICE_HOST") || strings.HasSuffix(k, "_SERVICE_PORT") || strings.HasPrefix(k, "MESHJOIN_") {
			vars = append(vars, kv)
		}
	}
	sort.Strings(vars)
	for _, kv := range vars {
		fmt.Println("env " + kv)
	}
	code := 0
	if url := os.Getenv("MESHAPP_URL"); url != "" {
		c := &http.Client{Timeout: 20 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			fmt.Println("call failed:", err)
			code = 1
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			fmt.Printf("call %s: %d %s\n", url, resp.StatusCode, strings.TrimSpace(string(body)))
			if resp.StatusCode != http.StatusOK {
				code = 1
			}
		}
	}
	fmt.Println("meshapp: done")
	if *stay {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
	}
	os.Exit(code)
}
