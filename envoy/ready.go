package envoy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// ErrAddressInUse marks a listener Envoy could not bind because something else listens there;
// the error itself is an *AddressInUseError.
var ErrAddressInUse = errors.New("address already in use")

// AddressInUseError says which listener could not bind which address.
type AddressInUseError struct {
	Listener string // e.g. "ratings.bookinfo:9080"
	Address  string // e.g. "127.77.3.4:9080"
}

func (e *AddressInUseError) Error() string {
	return fmt.Sprintf("listener %s: address %s already in use (another program listens there: stop it, or free the address)", e.Listener, e.Address)
}

// Is makes errors.Is(err, ErrAddressInUse) true.
func (e *AddressInUseError) Is(target error) bool { return target == ErrAddressInUse }

// WaitReady waits until the Envoy whose admin interface is admin serves every listener
// in listenerNames: /ready says LIVE (which alone proves little: Envoy also goes LIVE after
// an xDS fetch timeout), each listener is active in config_dump, and so is its cluster (of the
// same name, see ListenerName, or the gRPC port's for a JSON listener: ClusterOf). A listener Envoy rejected ends the wait at once with Envoy's
// reason; a port already taken gives an error wrapping ErrAddressInUse that names the address.
func WaitReady(ctx context.Context, admin AdminEndpoint, listenerNames []string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		done, err := checkReady(ctx, client, admin, listenerNames)
		if done {
			return err
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("envoy not ready: %w (%w)", last, ctx.Err())
		case <-tick.C:
		}
	}
}

// checkReady reports done with a nil error when ready, done with an error when waiting longer
// cannot help, and not done with the reason otherwise.
func checkReady(ctx context.Context, client *http.Client, admin AdminEndpoint, names []string) (bool, error) {
	body, err := admin.Get(ctx, client, "/ready")
	if err != nil {
		return false, err
	}
	if strings.TrimSpace(string(body)) != "LIVE" {
		return false, fmt.Errorf("server state %s", strings.TrimSpace(string(body)))
	}

	body, err = admin.Get(ctx, client, "/config_dump?resource=dynamic_listeners")
	if err != nil {
		return false, err
	}
	// A published Envoy serves each name as a filter chain of its one listener (see Publish):
	// a chain counts like a listener of its name.
	type listenerConfig struct {
		Name         string `json:"name"`
		FilterChains []struct {
			Name string `json:"name"`
		} `json:"filter_chains"`
	}
	var listeners struct {
		Configs []struct {
			Name        string `json:"name"`
			ActiveState *struct {
				Listener listenerConfig `json:"listener"`
			} `json:"active_state"`
			ErrorState *struct {
				FailedConfiguration listenerConfig `json:"failed_configuration"`
				Details             string         `json:"details"`
			} `json:"error_state"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(body, &listeners); err != nil {
		return false, fmt.Errorf("envoy listeners: %w", err)
	}
	active := map[string]bool{}
	failed := map[string]string{}
	for _, l := range listeners.Configs {
		name := l.Name
		if l.ErrorState != nil {
			if name == "" {
				name = l.ErrorState.FailedConfiguration.Name
			}
			failed[name] = l.ErrorState.Details
			for _, c := range l.ErrorState.FailedConfiguration.FilterChains {
				if c.Name != "" {
					failed[c.Name] = l.ErrorState.Details
				}
			}
		}
		if l.ActiveState != nil && name != "" {
			active[name] = true
			for _, c := range l.ActiveState.Listener.FilterChains {
				if c.Name != "" {
					active[c.Name] = true
				}
			}
		}
	}
	listenerNames, clusterNames := readyTargets(names)
	var missing []string
	for _, n := range listenerNames {
		if active[n] {
			continue
		}
		if details, ok := failed[n]; ok {
			return true, listenerError(n, details)
		}
		missing = append(missing, n)
	}
	if len(missing) > 0 {
		return false, fmt.Errorf("listeners not active yet: %s", strings.Join(missing, ", "))
	}

	body, err = admin.Get(ctx, client, "/config_dump?resource=dynamic_active_clusters")
	if err != nil {
		return false, err
	}
	var clusters struct {
		Configs []struct {
			Cluster struct {
				Name string `json:"name"`
			} `json:"cluster"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(body, &clusters); err != nil {
		return false, fmt.Errorf("envoy clusters: %w", err)
	}
	haveCluster := map[string]bool{}
	for _, c := range clusters.Configs {
		haveCluster[c.Cluster.Name] = true
	}
	for _, n := range clusterNames {
		if !haveCluster[ClusterOf(n)] {
			missing = append(missing, ClusterOf(n))
		}
	}
	if len(missing) > 0 {
		return false, fmt.Errorf("clusters not active yet: %s", strings.Join(missing, ", "))
	}
	return true, nil
}

// readyTargets splits WaitReady's names into the listeners and the clusters to wait for: a
// listener and its cluster share a name (see ListenerName), except in proxy mode, whose one
// listener (ProxyListenerName, first) leads to every cluster named after it.
func readyTargets(names []string) (listeners, clusters []string) {
	if len(names) > 0 && names[0] == ProxyListenerName {
		return names[:1], names[1:]
	}
	return names, names
}

var (
	cannotBind     = regexp.MustCompile(`cannot bind '([^']+)': Address already in use`)
	cannotBindPriv = regexp.MustCompile(`cannot bind '([^']+)': Permission denied`)
)

func listenerError(name, details string) error {
	if m := cannotBind.FindStringSubmatch(details); m != nil {
		return &AddressInUseError{Listener: name, Address: m[1]}
	}
	if m := cannotBindPriv.FindStringSubmatch(details); m != nil {
		return &AddressPermissionError{Listener: name, Address: m[1], ByEnvoy: true}
	}
	return fmt.Errorf("listener %s: envoy rejected it: %s", name, details)
}
