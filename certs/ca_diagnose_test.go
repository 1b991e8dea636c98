package certs

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

func fakeJWT(claims string) string {
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".c2ln"
}

// Each reason explainRefusal can give, from what meshjoin sees. (The ones istiod can be made
// to produce are also tested against the real istiod in testbed_test.go.)
func TestExplainRefusal(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	valid := fakeJWT(fmt.Sprintf(`{"aud":"istio-ca","exp":%d,"iss":"https://kubernetes.default.svc"}`, now.Add(time.Hour).Unix()))
	for _, tc := range []struct {
		name             string
		cfg              CAConfig
		token            string
		reason, hintWord string
	}{
		{"not a JWT", CAConfig{}, "opaque", "not a JWT", "kube context"},
		{"audience as a string", CAConfig{}, fakeJWT(`{"aud":"vault"}`), `audience is ["vault"]`, "istio-ca"},
		{"expired", CAConfig{}, fakeJWT(fmt.Sprintf(`{"aud":["istio-ca"],"exp":%d}`, now.Add(-time.Minute).Unix())), "expired at 2026-11-27T11:59:00Z", "clock"},
		{"cluster ID against the name", CAConfig{ClusterID: "west", ClusterName: "east"}, valid, `knows this cluster as "east"`, "--cluster-id east"},
		{"cluster ID, name unknown", CAConfig{ClusterID: "west"}, valid, `"west", which istiod may not know`, "leave --cluster-id out"},
		{"another cluster's istiod", CAConfig{Address: "10.0.0.9:15012", ClusterCAAddress: "203.0.113.7:15012"}, valid, "not the istiod this cluster's east-west gateway exposes (203.0.113.7:15012)", "--ca-address"},
		{"nothing visible", CAConfig{Address: "203.0.113.7:15012", ClusterCAAddress: "203.0.113.7:15012", ClusterID: "east", ClusterName: "east"}, valid, "another token audience", "TOKEN_AUDIENCES"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason, hint := (&CAClient{cfg: tc.cfg}).explainRefusal(tc.token, now)
			if !strings.Contains(reason, tc.reason) || !strings.Contains(hint, tc.hintWord) {
				t.Errorf("reason %q\nhint %q", reason, hint)
			}
		})
	}
}
