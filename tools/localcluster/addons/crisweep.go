package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criSweep stops and removes every pod sandbox (and with it its containers)
// through the CRI, so the runtime itself tears down what it set up: CNI DEL
// (veth, IP lease, masquerade rules), network namespaces and rootfs mounts.
// `cluster.py down` runs it after the kubelet has stopped and before
// containerd does; killing the runtime instead would leak all of that.
func criSweep(args []string) int {
	fs := flag.NewFlagSet("cri-sweep", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "", "CRI endpoint, unix:///path/to/containerd.sock")
	timeout := fs.Duration("timeout", 60*time.Second, "overall timeout")
	list := fs.Bool("list", false, "only list pod sandboxes and containers")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "cri-sweep: -endpoint is required")
		return 2
	}
	conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri-sweep:", err)
		return 1
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	rt := runtimeapi.NewRuntimeServiceClient(conn)

	sandboxes, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri-sweep: list pod sandboxes:", err)
		return 1
	}
	if *list {
		containers, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "cri-sweep: list containers:", err)
			return 1
		}
		for _, s := range sandboxes.Items {
			fmt.Printf("sandbox %.13s %-8s %s/%s\n", s.Id, s.State, s.Metadata.Namespace, s.Metadata.Name)
		}
		for _, c := range containers.Containers {
			fmt.Printf("container %.13s %-17s %s (sandbox %.13s)\n", c.Id, c.State, c.Metadata.Name, c.PodSandboxId)
		}
		return 0
	}
	failed := 0
	for _, s := range sandboxes.Items {
		name := s.Metadata.Namespace + "/" + s.Metadata.Name
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "cri-sweep: stop %s: %v\n", name, err)
			failed++
			continue
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "cri-sweep: remove %s: %v\n", name, err)
			failed++
			continue
		}
		fmt.Printf("removed pod sandbox %.13s %s\n", s.Id, name)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func init() { register("cri-sweep", criSweep) }
