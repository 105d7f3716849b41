package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/nodewright/nodewright/schema/jsonschema"
)

func newSchemaCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Work with the manifest schemas",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("schema needs a subcommand: export")
		},
	}
	var out string
	export := &cobra.Command{
		Use:   "export --out DIR",
		Short: "Write a JSON Schema for every kind, so editors validate fleet repositories",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError("--out is required")
			}
			schemas, err := jsonschema.All()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return usageError("--out: %v", err)
			}
			for _, s := range schemas {
				path := filepath.Join(out, s.FileName)
				if err := os.WriteFile(path, s.JSON, 0o644); err != nil {
					return usageError("--out: %v", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s)\n", path, s.Kind)
			}
			return nil
		},
	}
	export.Flags().StringVar(&out, "out", "", "directory to write the schemas into")
	cmd.AddCommand(export)
	return cmd
}
