package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// Only the plugins the cluster's Corefile uses: a smaller, faster build
	// than CoreDNS's full plugin.cfg (the way CoreDNS documents building
	// with a custom plugin set).
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// corednsDirectives keeps CoreDNS's own execution order (plugin.cfg) for the
// plugins linked in above; a directive missing here is rejected by the parser.
var corednsDirectives = []string{
	"reload",
	"bind",
	"ready",
	"health",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"kubernetes",
	"loop",
	"forward",
}

func init() {
	register("coredns", func(args []string) int {
		dnsserver.Directives = corednsDirectives
		coremain.Run()
		return 0
	})
}
