package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "nodewright",
		Short: "GitOps for the riskiest changes of bare-metal edge fleets",
		Long: `Nodewright verifies a signed fleet repository against a trust policy that only
moves forward, and (as it grows) carries out gated day-2 operations on edge clusters.

Exit codes: 0 success; 1 verification refused (a "REJECTED <ReasonCode>: <message>"
line on stderr per refusal); 2 bad usage or configuration; 130 a demo stopped by
SIGINT or SIGTERM before it finished (what it started is removed first).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v (see %s --help)", err, c.CommandPath())
	})
	root.AddCommand(newVerifyCommand(), newLintCommand(), newInitCommand(), newSchemaCommand(), newApproveCommand(), newPlanCommand(), newReconcilerCommand(), newAgentCommand(), newFleetCommand(), newAuditCommand(), newBundleCommand(), newDemoCommand(), newVolumeChecksumCommand())
	root.SetVersionTemplate(fmt.Sprintf("nodewright %s\n", version))
	return root
}
