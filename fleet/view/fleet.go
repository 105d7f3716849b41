package view

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source/reason"
)

// DefaultStaleAfter is how long a cluster may stay silent before the view
// shows it as Unknown.
const DefaultStaleAfter = time.Hour

// Options says how Load judges the reports it reads.
type Options struct {
	// Now is the time ages are measured to; zero means time.Now().
	Now time.Time
	// StaleAfter is how long after its last report a cluster counts as
	// silent (Unknown); zero means DefaultStaleAfter.
	StaleAfter time.Duration
}

// Health is a cluster's overall state in the fleet view.
type Health string

const (
	// Healthy means a recent report with every node ready and no failed
	// operation.
	Healthy Health = "Healthy"
	// Degraded means a recent report with nodes not ready or a failed
	// operation.
	Degraded Health = "Degraded"
	// Unknown means the cluster's last report is older than the stale
	// threshold (or it never reported); what it said last is still shown.
	Unknown Health = "Unknown"
	// Invalid means the cluster's status.yaml cannot be read; Problem says why.
	Invalid Health = "Invalid"
)

// OperationState groups operation phases for the fleet view.
type OperationState string

const (
	// InFlight operations are still being carried out (or wait for
	// approval).
	InFlight OperationState = "InFlight"
	// Failed operations halted (a person must act), are rolling back or
	// rolled back.
	Failed OperationState = "Failed"
	// Done operations succeeded or were aborted.
	Done OperationState = "Done"
)

// Phases of the VMVolumeMigration table (reconciler/vmmigration) that the
// view counts as failed; spelled here so the view does not pull in the
// controllers.
const (
	phaseRollingBack = "RollingBack"
	phaseRolledBack  = "RolledBack"
)

// StateOf classifies an operation phase.
func StateOf(p string) OperationState {
	switch p {
	case string(phase.Halted), phaseRollingBack, phaseRolledBack, "Failed":
		return Failed
	case string(phase.Succeeded), string(phase.Aborted):
		return Done
	}
	return InFlight
}

// StatusInvalid surfaces (in fleet status) when a cluster's status.yaml
// cannot be read; the cluster is shown as Invalid.
const StatusInvalid reason.Code = "StatusInvalid"

// Fleet is every cluster's last report on the status branch.
type Fleet struct {
	// Repo names the repository read.
	Repo string `json:"repo"`
	// Branch and Commit are the status branch and the commit read.
	Branch string `json:"branch"`
	Commit string `json:"commit"`
	// FleetBranch and FleetCommit are the fleet branch and its tip, when
	// it was found.
	FleetBranch string `json:"fleetBranch"`
	FleetCommit string `json:"fleetCommit,omitempty"`
	// GeneratedAt is the time ages are measured to.
	GeneratedAt time.Time `json:"generatedAt"`
	// StaleAfter is the silence after which a cluster is Unknown.
	StaleAfter Duration `json:"staleAfter"`
	// Clusters are sorted by site, then name.
	Clusters []Cluster `json:"clusters"`
}

// Cluster is one cluster's line of the fleet view.
type Cluster struct {
	// Name is the cluster's name (its directory on the status branch).
	Name string `json:"name"`
	// Site is the site the cluster serves.
	Site string `json:"site"`
	// AppliedCommit is the fleet commit the cluster acts on.
	AppliedCommit string `json:"appliedCommit,omitempty"`
	// AppliedCommitTime is that commit's committer time, when the commit
	// is in the repository.
	AppliedCommitTime *time.Time `json:"appliedCommitTime,omitempty"`
	// AppliedIsFleetTip is true when the cluster applies the fleet
	// branch's tip.
	AppliedIsFleetTip bool `json:"appliedIsFleetTip"`
	// PolicyVersion is the trust policy version in force at the cluster.
	PolicyVersion int `json:"policyVersion"`
	// Operations are the operations of the report, with their state: all
	// of them, or the first ones when the report is a summary.
	Operations []Operation `json:"operations"`
	// Truncated is true when the report is the writer's summary and lists
	// only the first of TotalOperations operations.
	Truncated bool `json:"truncated,omitempty"`
	// TotalOperations counts every operation of the report.
	TotalOperations int `json:"totalOperations"`
	// InFlight and FailedOperations count the operations in flight and the
	// failed ones, also those a summary does not list.
	InFlight         int `json:"inFlight"`
	FailedOperations int `json:"failedOperations"`
	// Nodes counts nodes by health.
	Nodes v1.NodeHealthSummary `json:"nodes"`
	// LastReport is when the cluster made its report.
	LastReport *time.Time `json:"lastReport,omitempty"`
	// Health is the cluster's overall state.
	Health Health `json:"health"`
	// Summary is Health for a person, e.g. "Unknown (last report 3h ago)".
	Summary string `json:"summary"`
	// Problem says why the report is Invalid.
	Problem string `json:"problem,omitempty"`
}

// Operation is one operation of a cluster's report.
type Operation struct {
	Kind     string         `json:"kind"`
	Name     string         `json:"name"`
	Phase    string         `json:"phase"`
	Progress string         `json:"progress,omitempty"`
	State    OperationState `json:"state"`
}

// String writes the operation as "Kind/name Phase (progress)".
func (o Operation) String() string {
	s := o.Kind + "/" + o.Name + " " + o.Phase
	if o.Progress != "" {
		s += " (" + o.Progress + ")"
	}
	return s
}

// Active returns the operations in flight and the failed ones, the ones a
// fleet view lists.
func (c *Cluster) Active() []Operation {
	var out []Operation
	for _, o := range c.Operations {
		if o.State != Done {
			out = append(out, o)
		}
	}
	return out
}

// Duration is a time.Duration that encodes as a Go duration string.
type Duration time.Duration

// String writes the duration as time.Duration.String does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the duration as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Load reads the last report of every cluster at the status branch's tip.
// A report that cannot be read yields a cluster with Health Invalid and its
// Problem; an error means the repository itself could not be read.
func Load(r *Repo, o Options) (*Fleet, error) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	stale := o.StaleAfter
	if stale <= 0 {
		stale = DefaultStaleAfter
	}
	f := &Fleet{Repo: r.Name, Branch: r.Branch, Commit: r.Tip.String(), FleetBranch: r.FleetBranch,
		GeneratedAt: now.UTC().Truncate(time.Second), StaleAfter: Duration(stale)}
	if !r.FleetTip.IsZero() {
		f.FleetCommit = r.FleetTip.String()
	}
	tip, err := r.commit(r.Tip)
	if err != nil {
		return nil, err
	}
	dirs, err := r.clusterDirs(tip.Tree)
	if err != nil {
		return nil, err
	}

	// Each worker reads a contiguous run of clusters through its own
	// storage (go-git's is not safe for concurrent readers; neighbouring
	// blobs share delta bases) and parses what it read.
	f.Clusters = make([]Cluster, len(dirs))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(dirs)/minPerWorker))
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(dirs)/workers, (w+1)*len(dirs)/workers
		rr, release := r, func() {}
		if w > 0 {
			rr, release = r.reader()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer release()
			for i := lo; i < hi; i++ {
				name := dirs[i].name
				data, err := rr.statusData(dirs[i])
				f.Clusters[i] = judge(name, data, err, now, stale)
			}
		}()
	}
	wg.Wait()

	commitTimes := map[string]*time.Time{}
	for i := range f.Clusters {
		c := &f.Clusters[i]
		if c.AppliedCommit == "" {
			continue
		}
		t, seen := commitTimes[c.AppliedCommit]
		if !seen {
			if len(c.AppliedCommit) == 40 {
				if ac, err := r.commit(plumbing.NewHash(c.AppliedCommit)); err == nil {
					ct := ac.Time
					t = &ct
				}
			}
			commitTimes[c.AppliedCommit] = t
		}
		c.AppliedCommitTime = t
		c.AppliedIsFleetTip = c.AppliedCommit == f.FleetCommit
	}
	SortClusters(f.Clusters)
	return f, nil
}

// minPerWorker is how many clusters make another reading worker worth its
// storage.
const minPerWorker = 256

// statusData reads the status.yaml of one cluster directory.
func (r *Repo) statusData(e entry) ([]byte, error) {
	d, err := r.clusterFiles(e)
	if err != nil {
		return nil, err
	}
	if d.status.IsZero() {
		return nil, fmt.Errorf("%s/%s/%s is missing", ClustersDir, e.name, StatusFile)
	}
	return r.read(plumbing.BlobObject, d.status)
}

// SortClusters sorts clusters by site, then name, keeping the order of
// equal ones.
func SortClusters(cs []Cluster) {
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].Site != cs[j].Site {
			return cs[i].Site < cs[j].Site
		}
		return cs[i].Name < cs[j].Name
	})
}

// judge turns one cluster's status.yaml into its line of the view.
func judge(name string, data []byte, readErr error, now time.Time, stale time.Duration) Cluster {
	c := Cluster{Name: name, Operations: []Operation{}}
	if readErr != nil {
		c.Health, c.Problem = Invalid, readErr.Error()
		c.Summary = "Invalid: " + c.Problem
		return c
	}
	file := ClustersDir + "/" + name + "/" + StatusFile
	st, err := ParseStatus(file, name, data)
	if err != nil {
		c.Health, c.Problem = Invalid, err.Error()
		c.Summary = "Invalid: " + c.Problem
		return c
	}
	c.Site = st.Site
	c.AppliedCommit = st.AppliedCommit
	c.PolicyVersion = st.PolicyVersion
	c.Nodes = st.Nodes
	for _, op := range st.Operations {
		o := Operation{Kind: op.Kind, Name: op.Name, Phase: op.Phase, Progress: op.Progress, State: StateOf(op.Phase)}
		c.Operations = append(c.Operations, o)
		c.count(o.State, 1)
	}
	c.TotalOperations = len(st.Operations)
	if st.Truncated {
		// A summary counts every operation by phase.
		c.Truncated, c.TotalOperations = true, st.TotalOperations
		c.InFlight, c.FailedOperations = 0, 0
		for p, n := range st.Phases {
			c.count(StateOf(p), n)
		}
	}
	nodes := fmt.Sprintf("%d/%d nodes ready", st.Nodes.Ready, st.Nodes.Total)
	var age time.Duration
	if !st.Time.IsZero() {
		last := st.Time.UTC()
		c.LastReport = &last
		age = now.Sub(last)
	}
	switch {
	case c.LastReport == nil:
		c.Health = Unknown
		c.Summary = "Unknown (the report has no time)"
	case age > stale:
		c.Health = Unknown
		c.Summary = fmt.Sprintf("Unknown (last report %s ago)", Age(age))
	case c.FailedOperations > 0 || st.Nodes.Ready < st.Nodes.Total:
		c.Health = Degraded
		detail := nodes
		if n := c.FailedOperations; n > 0 {
			detail += fmt.Sprintf(", %d failed %s", n, plural(n, "operation", "operations"))
		}
		c.Summary = "Degraded (" + detail + ")"
	default:
		c.Health = Healthy
		c.Summary = "Healthy (" + nodes + ")"
	}
	return c
}

func (c *Cluster) count(s OperationState, n int) {
	switch s {
	case InFlight:
		c.InFlight += n
	case Failed:
		c.FailedOperations += n
	}
}

// Age writes a duration the way the view shows ages: whole seconds below a
// minute, whole minutes below an hour, whole hours below two days, else
// whole days. Negative durations (clock skew) count as zero.
func Age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
