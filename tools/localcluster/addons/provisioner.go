package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

const (
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
	annSelectedNode  = "volume.kubernetes.io/selected-node"
)

// hostpathProvisioner is a dynamic provisioner for a single-node cluster: a
// claim of its StorageClass gets a directory under baseDir, published as a
// `local` PersistentVolume pinned to this node and pre-bound to the claim; a
// Released volume whose reclaim policy is Delete loses its directory and its
// PV object. WaitForFirstConsumer classes are served once the scheduler has
// picked the node (selected-node annotation), the way external provisioners do.
type hostpathProvisioner struct {
	client   kubernetes.Interface
	name     string
	baseDir  string
	nodeName string
	claims   corelisters.PersistentVolumeClaimLister
	volumes  corelisters.PersistentVolumeLister
	classes  storagelisters.StorageClassLister
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
}

func runProvisioner(args []string) int {
	fs := flag.NewFlagSet("hostpath-provisioner", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the provisioner's identity")
	name := fs.String("name", "remotedev.local/hostpath", "provisioner name (StorageClass .provisioner)")
	baseDir := fs.String("base-dir", "", "directory holding one sub-directory per volume")
	nodeName := fs.String("node-name", "", "name of the node the directories live on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *kubeconfig == "" || *baseDir == "" || *nodeName == "" {
		fmt.Fprintln(os.Stderr, "hostpath-provisioner: -kubeconfig, -base-dir and -node-name are required")
		return 2
	}
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	base, err := filepath.Abs(*baseDir)
	if err != nil {
		log.Print(err)
		return 1
	}
	// Only root traverses the base directory; volumes inside are opened to
	// any uid because pods run as arbitrary non-root users.
	if err := os.MkdirAll(base, 0o700); err != nil {
		log.Print(err)
		return 1
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Print(err)
		return 1
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		log.Print(err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	factory := informers.NewSharedInformerFactory(client, 30*time.Second)
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	p := &hostpathProvisioner{
		client:   client,
		name:     *name,
		baseDir:  base,
		nodeName: *nodeName,
		claims:   factory.Core().V1().PersistentVolumeClaims().Lister(),
		volumes:  factory.Core().V1().PersistentVolumes().Lister(),
		classes:  factory.Storage().V1().StorageClasses().Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "hostpath"}),
		recorder: broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: *name}),
	}
	enqueue := func(prefix string) cache.ResourceEventHandlerFuncs {
		add := func(obj interface{}) {
			if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
				p.queue.Add(prefix + key)
			}
		}
		return cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, obj interface{}) { add(obj) }}
	}
	if _, err := factory.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(enqueue("claim:")); err != nil {
		log.Print(err)
		return 1
	}
	if _, err := factory.Core().V1().PersistentVolumes().Informer().AddEventHandler(enqueue("volume:")); err != nil {
		log.Print(err)
		return 1
	}
	factory.Storage().V1().StorageClasses().Informer()
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			log.Printf("cache of %v did not sync", typ)
			return 1
		}
	}
	log.Printf("hostpath provisioner %s serving node %s from %s", p.name, p.nodeName, p.baseDir)
	go wait.UntilWithContext(ctx, p.work, time.Second)
	<-ctx.Done()
	p.queue.ShutDown()
	factory.Shutdown()
	return 0
}

func (p *hostpathProvisioner) work(ctx context.Context) {
	for {
		key, quit := p.queue.Get()
		if quit {
			return
		}
		var err error
		if rest, ok := strings.CutPrefix(key, "claim:"); ok {
			err = p.syncClaim(ctx, rest)
		} else if rest, ok := strings.CutPrefix(key, "volume:"); ok {
			err = p.syncVolume(ctx, rest)
		}
		if err != nil {
			log.Printf("%s: %v (will retry)", key, err)
			p.queue.AddRateLimited(key)
		} else {
			p.queue.Forget(key)
		}
		p.queue.Done(key)
	}
}

func (p *hostpathProvisioner) syncClaim(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := p.claims.PersistentVolumeClaims(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	if claim.Spec.VolumeName != "" || claim.Status.Phase != v1.ClaimPending || claim.DeletionTimestamp != nil {
		return nil
	}
	if claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName == "" {
		return nil
	}
	class, err := p.classes.Get(*claim.Spec.StorageClassName)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	if class.Provisioner != p.name {
		return nil
	}
	if class.VolumeBindingMode != nil && *class.VolumeBindingMode == "WaitForFirstConsumer" {
		node := claim.Annotations[annSelectedNode]
		if node == "" {
			return nil // the scheduler has not picked a node yet
		}
		if node != p.nodeName {
			p.recorder.Eventf(claim, v1.EventTypeWarning, "ProvisioningFailed",
				"node %q selected, but this provisioner only serves node %q", node, p.nodeName)
			return nil
		}
	}
	if claim.Spec.Selector != nil {
		p.recorder.Event(claim, v1.EventTypeWarning, "ProvisioningFailed", "claims with a selector are not supported")
		return nil
	}
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == v1.PersistentVolumeBlock {
		p.recorder.Event(claim, v1.EventTypeWarning, "ProvisioningFailed", "volumeMode Block is not supported")
		return nil
	}
	if claim.Spec.DataSource != nil {
		p.recorder.Event(claim, v1.EventTypeWarning, "ProvisioningFailed", "data sources (clones, snapshots) are not supported")
		return nil
	}
	volumeName := "pvc-" + string(claim.UID)
	if _, err := p.volumes.Get(volumeName); err == nil {
		return nil // already provisioned, the PV controller binds it
	}
	size, ok := claim.Spec.Resources.Requests[v1.ResourceStorage]
	if !ok {
		p.recorder.Event(claim, v1.EventTypeWarning, "ProvisioningFailed", "spec.resources.requests.storage is required")
		return nil
	}
	path := filepath.Join(p.baseDir, volumeName)
	if err := os.MkdirAll(path, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o777); err != nil { // not narrowed by the umask
		return err
	}
	reclaim := v1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	volume := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        volumeName,
			Annotations: map[string]string{annProvisionedBy: p.name},
		},
		Spec: v1.PersistentVolumeSpec{
			Capacity:                      v1.ResourceList{v1.ResourceStorage: size},
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			VolumeMode:                    claim.Spec.VolumeMode,
			ClaimRef: &v1.ObjectReference{
				Kind:            "PersistentVolumeClaim",
				APIVersion:      "v1",
				Namespace:       claim.Namespace,
				Name:            claim.Name,
				UID:             claim.UID,
				ResourceVersion: claim.ResourceVersion,
			},
			PersistentVolumeSource: v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: path}},
			NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{
				NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{{
					Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{p.nodeName},
				}}}},
			}},
		},
	}
	if _, err := p.client.CoreV1().PersistentVolumes().Create(ctx, volume, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	log.Printf("provisioned %s for %s/%s at %s", volumeName, claim.Namespace, claim.Name, path)
	p.recorder.Eventf(claim, v1.EventTypeNormal, "ProvisioningSucceeded", "Successfully provisioned volume %s", volumeName)
	return nil
}

func (p *hostpathProvisioner) syncVolume(ctx context.Context, name string) error {
	volume, err := p.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	if volume.Annotations[annProvisionedBy] != p.name || volume.DeletionTimestamp != nil {
		return nil
	}
	if volume.Status.Phase != v1.VolumeReleased || volume.Spec.PersistentVolumeReclaimPolicy != v1.PersistentVolumeReclaimDelete {
		return nil
	}
	if volume.Spec.Local == nil || filepath.Dir(volume.Spec.Local.Path) != p.baseDir {
		return fmt.Errorf("refusing to delete %v: not a directory this provisioner made", volume.Spec.Local)
	}
	if err := os.RemoveAll(volume.Spec.Local.Path); err != nil {
		return err
	}
	uid := volume.UID
	err = p.client.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	log.Printf("deleted %s (released by %s/%s) and its directory", name, volume.Spec.ClaimRef.Namespace, volume.Spec.ClaimRef.Name)
	return nil
}

func init() { register("hostpath-provisioner", runProvisioner) }
