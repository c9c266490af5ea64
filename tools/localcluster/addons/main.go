// Command cluster-addons is the second multi-call binary of the local test
// cluster: the pieces that are not part of Kubernetes itself.
//
//	cluster-addons coredns -conf Corefile      CoreDNS with the plugins the cluster uses
//	cluster-addons hostpath-provisioner ...    dynamic provisioner for the default StorageClass
//	cluster-addons cri-sweep -endpoint ...     stop and remove every pod sandbox through CRI
//
// It is a module of its own (not part of ../kube) because CoreDNS needs newer
// gRPC and protobuf than Kubernetes 1.34 pins; mixing them would rebuild and
// risk the Kubernetes components.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

var components = map[string]func(args []string) int{}

func register(name string, run func(args []string) int) { components[name] = run }

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if _, ok := components[name]; !ok {
		if len(args) == 0 {
			usage()
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	run, ok := components[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "cluster-addons: unknown component %q\n", name)
		usage()
		os.Exit(2)
	}
	os.Args = append([]string{name}, args...)
	os.Exit(run(args))
}

func usage() {
	names := make([]string, 0, len(components))
	for n := range components {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: cluster-addons COMPONENT [ARGS...]\ncomponents: %v\n", names)
}
