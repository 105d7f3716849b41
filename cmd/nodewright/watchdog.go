package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/nodewright/nodewright/agent/journal"
	"github.com/nodewright/nodewright/agent/linux"
)

type watchdogOptions struct {
	host     string
	journal  string
	grace    time.Duration
	interval time.Duration
}

func newWatchdogCommand() *cobra.Command {
	o := &watchdogOptions{}
	cmd := &cobra.Command{
		Use:   "watchdog --host linux --journal DIR [--grace 1s] [--interval 250ms]",
		Short: "Revert the node's journalled bond changes past their deadline, without the agent or the API server",
		Long: `watchdog reads the agent's node-local journal (--journal, the directory the agent
writes) and reverts every change that is past its deadline by more than --grace and
was not committed: it puts the bond back to the state the journal holds (mode,
options, slaves in order, MTU, MAC, addresses and routes). It needs no API server
and no agent: it runs as a second container of the agent's pod, so a node whose
agent died, hangs or crash-loops after taking its uplink down puts itself back.

A revert is reported in the entry (reverted, by the watchdog, with the reason) and
in the log; the agent reports it on the task when it starts again. An entry that
is reverted already, or a bond that is as before already, is not touched again; a
bond changed by someone else since the change is left alone and reported.

--host linux is the only backend: a simulated host lives in its agent's process,
whose own watchdog reverts it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.host, "host", "", `host backend (required): "linux" (rtnetlink, needs CAP_NET_ADMIN in the node's network namespace)`)
	f.StringVar(&o.journal, "journal", "", "the agent's journal directory (required)")
	f.DurationVar(&o.grace, "grace", journal.DefaultGrace, "how long past an entry's deadline to wait before reverting it (the agent reverts at the deadline itself)")
	f.DurationVar(&o.interval, "interval", journal.DefaultInterval, "how often to read the journal for new entries")
	return cmd
}

func (o *watchdogOptions) run(ctx context.Context, stderr io.Writer) error {
	switch {
	case o.host == "":
		return usageError(`--host is required: "linux"`)
	case o.host == hostSimulated:
		return usageError("--host simulated: a simulated host lives in its agent's process, whose own watchdog reverts it; the watchdog command is for --host linux")
	case o.host != hostLinux:
		return usageError(`--host %q: want "linux"`, o.host)
	case o.journal == "":
		return usageError("--journal is required: the directory the agent's --journal names")
	case o.grace <= 0:
		return usageError("--grace %s must be positive", o.grace)
	case o.interval <= 0:
		return usageError("--interval %s must be positive", o.interval)
	}
	j, err := journal.Open(o.journal, nil)
	if err != nil {
		return usageError("--journal: %v", err)
	}
	h, err := linux.New(linux.Options{})
	if err != nil {
		return err
	}
	defer h.Close()
	if ctx == nil {
		ctx = context.Background()
	}
	log := logr.FromSlogHandler(slog.NewTextHandler(stderr, nil)).WithName("watchdog")
	log.Info("watching the journal", "dir", o.journal, "grace", o.grace.String(), "interval", o.interval.String())
	// main cancels ctx on SIGINT or SIGTERM; Run then returns.
	w := &journal.Watchdog{Journal: j, Host: h, Grace: o.grace, Interval: o.interval, Log: log}
	return w.Run(ctx)
}
