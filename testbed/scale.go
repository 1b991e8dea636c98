package testbed

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// createScale adds synthetic services (Service + EndpointSlice, no processes) in namespaces
// scale-000, scale-001, ... for catalogue and TUI work at the size of a large mesh.
// They are headless: kube-apiserver's ClusterIP allocator managed about 7 creates a second on
// the project's 2-core machine (10,000 services: 25 minutes), headless ones about 265; for the
// catalogue a headless Service with ports is the same kind of entry.
func createScale(ctx context.Context, c kubernetes.Interface, services, namespaces int, rootPEM []byte) error {
	for i := range namespaces {
		name := fmt.Sprintf("scale-%03d", i)
		if err := createIgnoreExists(create(ctx, c.CoreV1().Namespaces(), ns(name, map[string]string{"istio-injection": "enabled"}))); err != nil {
			return err
		}
		if rootPEM == nil {
			continue // istiod writes the root bundle itself
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "istio-ca-root-cert", Namespace: name}, Data: map[string]string{"root-cert.pem": string(rootPEM)}}
		if err := createIgnoreExists(create(ctx, c.CoreV1().ConfigMaps(name), cm)); err != nil {
			return err
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range services {
		g.Go(func() error {
			namespace := fmt.Sprintf("scale-%03d", i%namespaces)
			name := fmt.Sprintf("svc-%05d", i)
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
				Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{
					{Name: "http", Port: 8080}, {Name: "grpc-api", Port: 9090},
				}},
			}
			if err := createIgnoreExists(create(ctx, c.CoreV1().Services(namespace), svc)); err != nil {
				return fmt.Errorf("scale service %s/%s: %w", namespace, name, err)
			}
			slice := &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints: []discoveryv1.Endpoint{{
					Addresses:  []string{fmt.Sprintf("10.%d.%d.%d", 100+i/65536%100, i/256%256, i%256)},
					Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				}},
				Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}, {Name: ptr.To("grpc-api"), Port: ptr.To[int32](9090)}},
			}
			return createIgnoreExists(create(ctx, c.DiscoveryV1().EndpointSlices(namespace), slice))
		})
	}
	return g.Wait()
}
