// Command kube is a multi-call binary holding every Kubernetes component the
// local test cluster runs, plus etcd, CoreDNS and kubectl. One binary links once
// and shares every compiled package, which keeps the cold build on two cores
// well inside the CI budget. It dispatches on the name it is called by
// (symlinks) or on its first argument: `kube kubelet --help`.
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
		fmt.Fprintf(os.Stderr, "kube: unknown component %q\n", name)
		usage()
		os.Exit(2)
	}
	// Components read os.Args themselves (cobra, etcd): present them the way
	// their own main would see them.
	os.Args = append([]string{name}, args...)
	os.Exit(run(args))
}

func usage() {
	names := make([]string, 0, len(components))
	for n := range components {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: kube COMPONENT [ARGS...]\ncomponents: %v\n", names)
}
