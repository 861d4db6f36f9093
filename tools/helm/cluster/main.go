// Command k8s-control-plane is one binary for the throwaway Kubernetes control plane the chart
// tests run against: etcd, kube-apiserver, kube-controller-manager and kube-scheduler, chosen by
// the first argument (or by the name it is invoked under). One binary keeps the build to one link.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = "usage: k8s-control-plane etcd|kube-apiserver|kube-controller-manager|kube-scheduler [flags]"

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if name == "k8s-control-plane" {
		if len(args) == 0 {
			fmt.Fprintln(os.Stderr, usage)
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	switch name {
	case "etcd":
		// etcdmain reads os.Args itself and expects the program name first.
		os.Args = append([]string{"etcd"}, args...)
		etcdmain.Main(os.Args)
	case "kube-apiserver":
		os.Args = append([]string{name}, args...)
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "kube-controller-manager":
		os.Args = append([]string{name}, args...)
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "kube-scheduler":
		os.Args = append([]string{name}, args...)
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "version", "--version":
		fmt.Println(usage)
	default:
		fmt.Fprintf(os.Stderr, "unknown component %q\n%s\n", name, usage)
		os.Exit(2)
	}
}
