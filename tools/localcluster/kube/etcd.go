package main

import "go.etcd.io/etcd/server/v3/etcdmain"

func init() {
	register("etcd", func(args []string) int {
		etcdmain.Main(append([]string{"etcd"}, args...))
		return 0
	})
}
