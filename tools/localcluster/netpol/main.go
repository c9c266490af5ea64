// Command network-policies runs the NetworkPolicy engine of the local test
// cluster: the controller of sigs.k8s.io/kube-network-policies (nftables
// sends the first packet of each connection of a pod that a policy selects to
// an NFQUEUE; the controller accepts or drops it by the policies).
//
// The upstream command only knows the in-cluster configuration of a
// DaemonSet; this one runs on the host like the other components, so it takes
// a kubeconfig, ends on SIGTERM as well as SIGINT (removing its nftables
// tables), and has -cleanup for `cluster.py down` after a crash.
//
// It also closes a gap of the upstream rules on this cluster: they judge
// packets in the postrouting hook, which connections from a pod to an address
// of its own node never pass (the kernel delivers them through input). Here
// the node is the API server (the kubernetes Service's endpoint), the kubelet
// and CoreDNS, so a policy denying the node must hold for them too: a table of
// ours sends new TCP and UDP connections from the pod bridge to the node to
// the same queue, where the controller judges them like any other.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
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
	tableName      = "kube-network-policies"
	inputTableName = "remotedev-pods-to-node"
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
	cleanup := flag.Bool("cleanup", false, "remove the engine's nftables tables and exit")
	podInterface := flag.String("pod-interface", "", "the pods' bridge: their connections to the node are judged too")
	klog.InitFlags(nil)
	flag.Parse()

	if *cleanup {
		return removeTable()
	}
	if _, _, err := net.SplitHostPort(*metrics); err != nil {
		fmt.Fprintf(os.Stderr, "metrics-bind-address %q: %v\n", *metrics, err)
		return 2
	}
	if *kubeconfig == "" || *nodeName == "" || *podInterface == "" {
		fmt.Fprintln(os.Stderr, "-kubeconfig, -hostname-override and -pod-interface are required")
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
			// NRI would need the runtime's NRI socket at its fixed host
			// path; pod IPs come from the API instead.
			NRIdisabled: true,
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
	if err := addInputTable(*podInterface, uint16(*queueID)); err != nil {
		klog.ErrorS(err, "cannot add the nftables rules for connections to the node")
		return 1
	}
	defer removeTable()
	http.Handle("/metrics", promhttp.Handler())
	go func() {
		utilruntime.HandleError(http.ListenAndServe(*metrics, nil))
	}()
	<-ctx.Done()
	// The controller removes its table when its context ends; give it the time.
	time.Sleep(2 * time.Second)
	return 0
}

// addInputTable replaces our table: new TCP and UDP connections that come in
// from the pod bridge for the node itself go to the controller's queue (DNS
// over UDP excepted, as upstream does in postrouting).
func addInputTable(podInterface string, queueID uint16) error {
	if removeTable() != 0 {
		return fmt.Errorf("cannot remove the old table %s", inputTableName)
	}
	conn, err := nftables.New()
	if err != nil {
		return err
	}
	table := conn.AddTable(&nftables.Table{Name: inputTableName, Family: nftables.TableFamilyINet})
	chain := conn.AddChain(&nftables.Chain{
		Name:     "input",
		Table:    table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookInput,
		Priority: nftables.ChainPriorityFilter,
	})
	name := make([]byte, 16) // IFNAMSIZ, NUL-padded
	copy(name, podInterface)
	fromPods := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
	}
	protocol := func(proto byte) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		}
	}
	rule := func(parts ...[]expr.Any) {
		var exprs []expr.Any
		for _, part := range parts {
			exprs = append(exprs, part...)
		}
		conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: exprs})
	}
	dns := []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(53)},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
	newConnection := []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
	}
	queue := []expr.Any{&expr.Queue{Num: queueID}}
	rule(fromPods, protocol(unix.IPPROTO_UDP), dns)
	rule(fromPods, protocol(unix.IPPROTO_TCP), newConnection, queue)
	rule(fromPods, protocol(unix.IPPROTO_UDP), newConnection, queue)
	return conn.Flush()
}

// removeTable removes both tables (upstream's and ours) where they exist.
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
		if table.Name == tableName || table.Name == inputTableName {
			conn.DelTable(table)
			if err := conn.Flush(); err != nil {
				fmt.Fprintf(os.Stderr, "removing table %s: %v\n", table.Name, err)
				return 1
			}
			fmt.Println("removed nftables table inet", table.Name)
		}
	}
	return 0
}
