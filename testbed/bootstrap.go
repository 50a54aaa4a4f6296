package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// AnchorNode is always Ready and takes no test pods (its taint): the node
// lifecycle controller stops evicting when every node is NotReady, so a
// test that loses its nodes needs one healthy node elsewhere.
const anchorNode = "testbed-anchor"

// writeKubeconfigs writes D/kubeconfig (contexts `testbed`, the admin, and
// `testbed-viewer`, a token user with read-only RBAC) and one kubeconfig per
// component, all with embedded certificate data as a real cluster's are.
func (c *cluster) writeKubeconfigs() error {
	ca := c.ca.certPEM()
	read := func(name string) []byte {
		data, err := os.ReadFile(c.pkiFile(name))
		if err != nil {
			panic(err) // written a moment ago by writePKI
		}
		return data
	}
	certUser := func(name string) *clientcmdapi.AuthInfo {
		return &clientcmdapi.AuthInfo{ClientCertificateData: read(name + ".crt"), ClientKeyData: read(name + ".key")}
	}
	write := func(path, current string, users map[string]*clientcmdapi.AuthInfo) error {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["testbed"] = &clientcmdapi.Cluster{Server: c.apiURL, CertificateAuthorityData: ca}
		for name, user := range users {
			cfg.AuthInfos[name] = user
			cfg.Contexts[name] = &clientcmdapi.Context{Cluster: "testbed", AuthInfo: name, Namespace: "default"}
		}
		cfg.CurrentContext = current
		return clientcmd.WriteToFile(*cfg, path)
	}
	if err := write(filepath.Join(c.opts.dir, "kubeconfig"), "testbed", map[string]*clientcmdapi.AuthInfo{
		"testbed":        certUser("admin"),
		"testbed-viewer": {Token: viewerToken},
	}); err != nil {
		return err
	}
	for _, name := range []string{"controller-manager", "scheduler", "kwok"} {
		path := filepath.Join(c.pki, name+".kubeconfig")
		if err := write(path, name, map[string]*clientcmdapi.AuthInfo{name: certUser(name)}); err != nil {
			return err
		}
	}
	return nil
}

// bootstrap creates what the tests expect of the cluster and waits until
// it is usable: the viewer's RBAC, the anchor node and `extra` more nodes
// Ready, and the default ServiceAccount.
func bootstrap(ctx context.Context, kubeconfig string, extra int) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := createViewerRBAC(ctx, client); err != nil {
		return fmt.Errorf("viewer RBAC: %w", err)
	}
	names := []string{anchorNode}
	for i := 0; i < extra; i++ {
		names = append(names, fmt.Sprintf("testbed-node-%04d", i))
	}
	for _, name := range names {
		if err := createNode(ctx, client, name, name == anchorNode); err != nil {
			return fmt.Errorf("node %s: %w", name, err)
		}
	}
	if err := poll(ctx, "the default ServiceAccount", func() (bool, error) {
		_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return err
	}
	return poll(ctx, "the nodes to be Ready", func() (bool, error) {
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
		if err != nil {
			return false, nil
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= len(names), nil
	})
}

func createViewerRBAC(ctx context.Context, client kubernetes.Interface) error {
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "testbed-viewer"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"*"},
			Resources: []string{"*"},
			Verbs:     []string{"get", "list", "watch"},
		}},
	}
	if _, err := client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "testbed-viewer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "testbed-viewer"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: viewerUser}},
	}
	if _, err := client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

func createNode(ctx context.Context, client kubernetes.Interface, name string, anchor bool) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{
				"type":                    "kwok",
				"kubernetes.io/hostname":  name,
				"kubernetes.io/os":        "linux",
				"node.kubernetes.io/pool": map[bool]string{true: "anchor", false: "testbed"}[anchor],
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	if anchor {
		node.Spec.Taints = []corev1.Taint{{Key: "testbed.oncall.dev/anchor", Effect: corev1.TaintEffectNoSchedule}}
	}
	_, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func poll(ctx context.Context, what string, check func() (bool, error)) error {
	for {
		ok, err := check()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s", what)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
