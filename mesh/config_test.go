package mesh

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	rootA := selfSignedPEM(t, "root A")
	rootB := selfSignedPEM(t, "root B")
	rootC := selfSignedPEM(t, "root C")
	roots := func(ns string, pem ...[]byte) runtime.Object {
		return configMap(ns, configMapRoots, map[string]string{configMapRootsKey: string(bytes.Join(pem, nil))})
	}
	mesh := func(name, yaml string) runtime.Object {
		return configMap("istio-system", name, map[string]string{configMapMeshKey: yaml})
	}
	injector := func(name, values string) runtime.Object {
		return configMap("istio-system", name, map[string]string{configMapInjectorKey: values})
	}

	for _, tc := range []struct {
		name    string
		objs    []runtime.Object
		opts    ConfigOptions
		want    Config // RootsPEM is compared separately
		roots   [][]byte
		wantErr string
	}{
		{
			name:  "defaults",
			objs:  []runtime.Object{namespace("istio-system", nil), mesh("istio", "defaultConfig:\n  discoveryAddress: istiod:15012\n"), roots("istio-system", rootA)},
			want:  Config{TrustDomain: "cluster.local", RootNamespace: "istio-system", RootsNamespace: "istio-system"},
			roots: [][]byte{rootA},
		},
		{
			name: "trust domain, aliases, network label wins over injector values",
			objs: []runtime.Object{
				namespace("istio-system", map[string]string{labelNetwork: "net-a"}),
				mesh("istio", "trustDomain: corp.example\ntrustDomainAliases:\n- old.example\n- corp.example\n- \"bad domain\"\n"),
				injector("istio-sidecar-injector", `{"global":{"network":"net-b","caAddress":"istiod.istio-system.svc:15012"}}`),
				roots("istio-system", rootA),
			},
			want: Config{
				TrustDomain: "corp.example", Aliases: []string{"old.example"}, Network: "net-a",
				CAAddress: "istiod.istio-system.svc:15012", RootNamespace: "istio-system", RootsNamespace: "istio-system",
				Warnings: []string{`trust domain alias "bad domain" ignored: not a valid SPIFFE trust domain`},
			},
			roots: [][]byte{rootA},
		},
		{
			name: "network from injector values, hostile caAddress ignored",
			objs: []runtime.Object{
				namespace("istio-system", nil), mesh("istio", ""),
				injector("istio-sidecar-injector", `{"global":{"network":"net-b","caAddress":"evil\nhost:15012"}}`),
				roots("istio-system", rootA),
			},
			want: Config{
				TrustDomain: "cluster.local", Network: "net-b", RootNamespace: "istio-system", RootsNamespace: "istio-system",
				Warnings: []string{`values.global.caAddress "evil\nhost:15012" ignored: not host:port`},
			},
			roots: [][]byte{rootA},
		},
		{
			name: "revision reads istio-<rev> and istio-sidecar-injector-<rev>",
			objs: []runtime.Object{
				namespace("istio-system", nil),
				mesh("istio", "trustDomain: stable.example\n"),
				mesh("istio-canary", "trustDomain: canary.example\n"),
				injector("istio-sidecar-injector", `{"global":{"network":"stable-net"}}`),
				injector("istio-sidecar-injector-canary", `{"global":{"network":"canary-net"}}`),
				namespace("apps", map[string]string{labelRevision: "canary"}),
				namespace("aaa-stable", map[string]string{labelInjection: "enabled"}),
				roots("apps", rootB),
				roots("aaa-stable", rootC),
				roots("istio-system", rootA),
			},
			opts: ConfigOptions{Revision: "canary"},
			want: Config{
				TrustDomain: "canary.example", Network: "canary-net", Revision: "canary",
				RootNamespace: "istio-system", RootsNamespace: "apps",
			},
			roots: [][]byte{rootB},
		},
		{
			name: "roots from the first mesh namespace, several certificates kept, junk dropped",
			objs: []runtime.Object{
				namespace("istio-system", nil), mesh("istio", ""),
				namespace("zeta", map[string]string{labelInjection: "enabled"}),
				namespace("beta", map[string]string{labelRevision: "default"}),
				namespace("alpha", map[string]string{labelInjection: "disabled", labelRevision: "x"}),
				configMap("beta", configMapRoots, map[string]string{configMapRootsKey: "junk\n" + string(rootA) + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" + string(rootB)}),
				roots("zeta", rootC),
				roots("istio-system", rootC),
			},
			want:  Config{TrustDomain: "cluster.local", RootNamespace: "istio-system", RootsNamespace: "beta"},
			roots: [][]byte{rootA, rootB},
		},
		{
			name: "explicit roots namespace",
			objs: []runtime.Object{
				namespace("istio-system", nil), mesh("istio", ""),
				meshNS("bookinfo"), roots("bookinfo", rootA), roots("dev", rootB),
			},
			opts:  ConfigOptions{RootsNamespace: "dev"},
			want:  Config{TrustDomain: "cluster.local", RootNamespace: "istio-system", RootsNamespace: "dev"},
			roots: [][]byte{rootB},
		},
		{
			name: "explicit roots namespace without the ConfigMap falls back",
			objs: []runtime.Object{
				namespace("istio-system", nil), mesh("istio", ""), roots("istio-system", rootA),
			},
			opts: ConfigOptions{RootsNamespace: "dev"},
			want: Config{
				TrustDomain: "cluster.local", RootNamespace: "istio-system", RootsNamespace: "istio-system",
				Warnings: []string{"no ConfigMap istio-ca-root-cert in namespace dev: mesh root bundle read from namespace istio-system"},
			},
			roots: [][]byte{rootA},
		},
		{
			name: "mesh namespace without the roots ConfigMap falls back to the root namespace",
			objs: []runtime.Object{
				namespace("istio-system", nil), mesh("istio", ""), meshNS("bookinfo"), roots("istio-system", rootA),
			},
			want:  Config{TrustDomain: "cluster.local", RootNamespace: "istio-system", RootsNamespace: "istio-system"},
			roots: [][]byte{rootA},
		},
		{
			name: "other root namespace",
			objs: []runtime.Object{
				configMap("mesh-root", "istio", map[string]string{configMapMeshKey: "trustDomain: x.example"}),
				configMap("mesh-root", configMapRoots, map[string]string{configMapRootsKey: string(rootA)}),
			},
			opts:  ConfigOptions{RootNamespace: "mesh-root"},
			want:  Config{TrustDomain: "x.example", RootNamespace: "mesh-root", RootsNamespace: "mesh-root"},
			roots: [][]byte{rootA},
		},
		{
			name:    "no mesh config",
			objs:    []runtime.Object{roots("istio-system", rootA)},
			wantErr: "ConfigMap istio-system/istio not found: is Istio installed?",
		},
		{
			name:    "missing revision",
			objs:    []runtime.Object{mesh("istio", ""), roots("istio-system", rootA)},
			opts:    ConfigOptions{Revision: "canary"},
			wantErr: `ConfigMap istio-system/istio-canary not found: is revision "canary" installed?`,
		},
		{
			name:    "hostile trust domain",
			objs:    []runtime.Object{mesh("istio", "trustDomain: \"evil\\ntd\""), roots("istio-system", rootA)},
			wantErr: `trustDomain "evil\ntd" is not a valid SPIFFE trust domain`,
		},
		{
			name:    "mesh config not YAML",
			objs:    []runtime.Object{mesh("istio", "trustDomain: [unclosed"), roots("istio-system", rootA)},
			wantErr: `ConfigMap istio-system/istio key "mesh": parse:`,
		},
		{
			name:    "no roots",
			objs:    []runtime.Object{mesh("istio", ""), meshNS("bookinfo")},
			opts:    ConfigOptions{RootsNamespace: "dev"},
			wantErr: "ConfigMap istio-ca-root-cert not found in namespace dev, bookinfo, istio-system",
		},
		{
			name:    "roots without a certificate",
			objs:    []runtime.Object{mesh("istio", ""), configMap("istio-system", configMapRoots, map[string]string{configMapRootsKey: "nothing here"})},
			wantErr: "no PEM certificate found",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := LoadConfig(context.Background(), fake.NewClientset(tc.objs...), tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadConfig error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			gotRoots := got.RootsPEM
			got.RootsPEM = nil
			if !equalConfig(*got, tc.want) {
				t.Errorf("LoadConfig =\n %+v\nwant\n %+v", *got, tc.want)
			}
			if want := bytes.Join(tc.roots, nil); !bytes.Equal(gotRoots, want) {
				t.Errorf("RootsPEM =\n%s\nwant\n%s", gotRoots, want)
			}
		})
	}
}

func equalConfig(a, b Config) bool {
	return a.TrustDomain == b.TrustDomain && slices.Equal(a.Aliases, b.Aliases) && a.Network == b.Network &&
		a.CAAddress == b.CAAddress && a.Revision == b.Revision && a.RootNamespace == b.RootNamespace &&
		a.RootsNamespace == b.RootsNamespace && slices.Equal(a.Warnings, b.Warnings)
}

func TestLoadConfigForbidden(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset()
	forbid(&client.Fake, "get", "configmaps")
	_, err := LoadConfig(context.Background(), client, ConfigOptions{})
	var fe *ErrForbidden
	if !errors.As(err, &fe) {
		t.Fatalf("LoadConfig error = %v, want *ErrForbidden", err)
	}
	if want := "kubectl auth can-i get configmaps/istio -n istio-system"; fe.CanI() != want || !strings.Contains(err.Error(), want) {
		t.Errorf("CanI() = %q, error %q; want %q in both", fe.CanI(), err, want)
	}
}
