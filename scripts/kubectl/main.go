// Command kubectl is the upstream kubectl, built from the k8s.io/kubectl library at the
// version go.mod pins, for machines that have no kubectl of their own.
//
// scripts/ensure-kubectl builds it only when no kubectl is on the PATH: the tests use
// kubectl as an independent, real client of the testbed, so it must be the real
// command tree, not a wrapper of ours.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// Client auth plugins (exec, OIDC), as in the released binary.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
