// Command network-policies runs the NetworkPolicy engine of the local test
// cluster: the controller of sigs.k8s.io/kube-network-policies. The first
// packet of each connection of a pod goes to an NFQUEUE; the controller
// accepts or drops it by the policies (after DNAT: a Service counts as its
// endpoint).
//
// The upstream command only knows the in-cluster configuration of a
// DaemonSet; this one runs on the host like the other components, so it takes
// a kubeconfig and ends on SIGTERM as well as SIGINT, removing its rules; and
// -cleanup removes them after a crash (`cluster.py down`).
//
// The rules that feed the queue are ours, in iptables' mangle table: upstream
// writes them as nftables rules with the `queue` expression, which this
// kernel lacks (nft_queue is not built in; the NFQUEUE target of xtables is).
// They do what upstream's do, with two differences: every new connection from
// or to the pod subnet is queued, not only those of the pods a policy selects
// (the controller lets through what no policy governs: more packets to
// userspace, the same verdicts), and connections from the pods to the node
// itself are judged too, in INPUT - upstream judges in postrouting, which
// they never pass, and here the node is the API server (the kubernetes
// Service's endpoint), the kubelet and CoreDNS. Like upstream: DNS over UDP
// and whatever root on the node sends (the kubelet's probes) pass unjudged,
// established connections are not judged again, and without the controller
// a queued packet is dropped (fail closed).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

const (
	// upstream's nftables table: it fails to load here, and -cleanup removes it should it exist.
	tableName = "kube-network-policies"
	// our chains in the mangle table: after DNAT, before SNAT, like upstream's postrouting chain.
	forwardChain = "REMOTEDEV-NETPOL"
	inputChain   = "REMOTEDEV-NETPOL-INPUT"
)

func main() {
	os.Exit(run())
}

func run() int {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the engine's API user")
	nodeName := flag.String("hostname-override", "", "the node's name (the engine only handles pods of this node)")
	metrics := flag.String("metrics-bind-address", "127.0.0.1:10262", "address of /metrics, also the health probe")
	queueID := flag.Int("nfqueue-id", 100, "number of the NFQUEUE")
	failOpen := flag.Bool("fail-open", false, "accept packets while the engine is not running")
	cleanup := flag.Bool("cleanup", false, "remove the engine's rules and exit")
	podInterface := flag.String("pod-interface", "", "the pods' bridge: their connections to the node are judged too")
	podCIDR := flag.String("pod-cidr", "", "the pods' addresses: their connections are judged")
	klog.InitFlags(nil)
	flag.Parse()

	if *cleanup {
		return removeRules()
	}
	if _, _, err := net.SplitHostPort(*metrics); err != nil {
		fmt.Fprintf(os.Stderr, "metrics-bind-address %q: %v\n", *metrics, err)
		return 2
	}
	if *kubeconfig == "" || *nodeName == "" || *podInterface == "" || *podCIDR == "" {
		fmt.Fprintln(os.Stderr, "-kubeconfig, -hostname-override, -pod-interface and -pod-cidr are required")
		return 2
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubeconfig %s: %v\n", *kubeconfig, err)
		return 1
	}
	config.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	config.ContentType = "application/vnd.kubernetes.protobuf"
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		fmt.Fprintf(os.Stderr, "API client: %v\n", err)
		return 1
	}

	ctx, cancel := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM)
	defer cancel()

	factory := informers.NewSharedInformerFactory(clientset, 0)
	controller, err := networkpolicy.NewController(
		clientset,
		factory.Networking().V1().NetworkPolicies(),
		factory.Core().V1().Namespaces(),
		factory.Core().V1().Pods(),
		nil, nil, nil, nil,
		networkpolicy.Config{
			FailOpen:            *failOpen,
			QueueID:             *queueID,
			NodeName:            *nodeName,
			NetfilterBug1766Fix: true,
			NFTableName:         tableName,
			// NRI stays on, though this containerd (1.6) serves no NRI socket
			// and pod IPs come from the API: v0.8.0 looks every address no pod
			// has up in its NRI plugin, which is nil when NRI is disabled (a
			// panic at the first connection to the node).
			NRIdisabled: false,
		},
	)
	if err != nil {
		klog.ErrorS(err, "cannot start the network policy controller")
		return 1
	}

	go func() {
		utilruntime.HandleError(controller.Run(ctx))
	}()
	factory.Start(ctx.Done())
	// The address answers only once the engine knows every pod, namespace
	// and policy: cluster.py's health check waits for it.
	for informer, synced := range factory.WaitForCacheSync(ctx.Done()) {
		if !synced {
			klog.ErrorS(nil, "informer cache did not sync", "type", informer)
			return 1
		}
	}
	if err := addRules(*podInterface, *podCIDR, *queueID); err != nil {
		klog.ErrorS(err, "cannot add the rules that feed the queue")
		removeRules()
		return 1
	}
	defer removeRules()
	http.Handle("/metrics", promhttp.Handler())
	go func() {
		utilruntime.HandleError(http.ListenAndServe(*metrics, nil))
	}()
	<-ctx.Done()
	// The controller removes its table when its context ends; give it the time.
	time.Sleep(2 * time.Second)
	return 0
}

func iptables(args ...string) error {
	out, err := exec.Command("iptables", append([]string{"-w", "5", "-t", "mangle"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables -t mangle %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// addRules (re)makes our two chains and the jumps to them.
func addRules(podInterface, podCIDR string, queueID int) error {
	removeRules()
	queue := []string{"-j", "NFQUEUE", "--queue-num", strconv.Itoa(queueID)}
	unjudged := [][]string{
		{"-p", "udp", "--dport", "53", "-j", "RETURN"},
		{"-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"},
	}
	rules := map[string][][]string{
		forwardChain: append(append([][]string{
			{"-m", "owner", "--uid-owner", "0", "-j", "RETURN"}}, unjudged...),
			append([]string{"-s", podCIDR}, queue...),
			append([]string{"-d", podCIDR}, queue...)),
		inputChain: append(append([][]string{}, unjudged...), queue),
	}
	for _, chain := range []string{forwardChain, inputChain} {
		if err := iptables("-N", chain); err != nil {
			return err
		}
		for _, rule := range rules[chain] {
			if err := iptables(append([]string{"-A", chain}, rule...)...); err != nil {
				return err
			}
		}
	}
	if err := iptables("-A", "POSTROUTING", "-j", forwardChain); err != nil {
		return err
	}
	return iptables("-A", "INPUT", "-i", podInterface, "-j", inputChain)
}

// removeRules removes our chains and the jumps to them, and upstream's
// nftables table should it exist; what is not there is no error.
func removeRules() int {
	out, err := exec.Command("iptables-save", "-t", "mangle").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "iptables-save: %v\n", err)
		return 1
	}
	failed := 0
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 2 && fields[0] == "-A" && (fields[1] == "POSTROUTING" || fields[1] == "INPUT") &&
			(strings.HasSuffix(line, "-j "+forwardChain) || strings.HasSuffix(line, "-j "+inputChain)) {
			if err := iptables(append([]string{"-D"}, fields[1:]...)...); err != nil {
				fmt.Fprintln(os.Stderr, err)
				failed = 1
			}
		}
	}
	for _, chain := range []string{forwardChain, inputChain} {
		if strings.Contains(string(out), ":"+chain+" ") {
			if err := iptables("-F", chain); err != nil {
				fmt.Fprintln(os.Stderr, err)
				failed = 1
			}
			if err := iptables("-X", chain); err != nil {
				fmt.Fprintln(os.Stderr, err)
				failed = 1
			}
		}
	}
	return failed | removeTable()
}

// removeTable removes upstream's nftables table where it exists.
func removeTable() int {
	conn, err := nftables.New()
	if err != nil {
		fmt.Fprintf(os.Stderr, "nftables: %v\n", err)
		return 1
	}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		fmt.Fprintf(os.Stderr, "listing nftables tables: %v\n", err)
		return 1
	}
	for _, table := range tables {
		if table.Name == tableName {
			conn.DelTable(table)
			if err := conn.Flush(); err != nil {
				fmt.Fprintf(os.Stderr, "removing table %s: %v\n", table.Name, err)
				return 1
			}
		}
	}
	return 0
}
