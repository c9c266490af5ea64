package main

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

func cobraRunner(build func() *cobra.Command) func([]string) int {
	return func(args []string) int {
		cmd := build()
		cmd.SetArgs(args)
		return cli.Run(cmd)
	}
}

func init() {
	register("kube-apiserver", cobraRunner(apiserver.NewAPIServerCommand))
	register("kube-controller-manager", cobraRunner(controllermanager.NewControllerManagerCommand))
	register("kube-scheduler", cobraRunner(func() *cobra.Command { return scheduler.NewSchedulerCommand() }))
	register("kube-proxy", cobraRunner(proxy.NewProxyCommand))
	register("kubelet", cobraRunner(func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) }))
	register("kubectl", cobraRunner(kubectlcmd.NewDefaultKubectlCommand))
}
