package envoy

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/proto"
)

// PreviewConfig is the listeners and clusters BuildResources makes for plan, as JSON (Envoy's
// own field names) for `--dry-run`: {"listeners": [...], "clusters": [...]}. No credentials
// are needed or shown: the clusters refer to the SDS secrets by name only.
func PreviewConfig(plan Plan) (json.RawMessage, error) {
	if err := validatePlan(plan); err != nil {
		return nil, err
	}
	var listeners, clusters []json.RawMessage
	add := func(to *[]json.RawMessage, m proto.Message) error {
		b, err := marshalJSON(m)
		*to = append(*to, b)
		return err
	}
	for _, svc := range plan.Services {
		for _, port := range svc.Ports {
			name := ListenerName(svc.Key, port.Number)
			l, err := buildListener(name, plan, svc, port)
			if err != nil {
				return nil, fmt.Errorf("service %q: listener %q: %w", svc.Key, name, err)
			}
			cs, err := buildClusters(plan, svc, port)
			if err != nil {
				return nil, err
			}
			if err := add(&listeners, l); err != nil {
				return nil, err
			}
			for _, c := range cs {
				if err := add(&clusters, c); err != nil {
					return nil, err
				}
			}
		}
	}
	return json.Marshal(map[string][]json.RawMessage{"listeners": listeners, "clusters": clusters})
}
