// Command hubbench measures the webhook path in one run: signed PagerDuty V3
// webhooks driven over loopback through a whole hub (PagerDuty plugin over
// gRPC, pipeline running) beside the designs it is measured against (a bare
// Fiber handler, one Bun insert per request, plugin verify plus one Bun
// insert per request), for a lifecycle mix and a storm, and how long the
// pipeline takes to catch up after a storm. Each server runs in a child
// process of its own, so its memory and CPU profile are its own.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/cmd/internal/loadgen"
	"github.com/aurora-hub/aurora-hub/cmd/internal/procstat"
)

const (
	userID = "bench-user"
	token  = "u+bench-token-0000001"
	secret = "whsec-bench-0000000001"
)

type options struct {
	duration   time.Duration
	conns      int
	rate       int
	stormRate  int
	drainWait  time.Duration
	trace      bool
	pluginDir  string
	hubBin     string
	cpuProfile string
	goTrace    string
	memProfile string
	only       string
	postgres   string
	bodies     int
	hubEnv     string
	phases     string
}

// runs reports whether phase is one of -phases.
func (o options) runs(phase string) bool {
	for _, p := range strings.Split(o.phases, ",") {
		if strings.TrimSpace(p) == phase {
			return true
		}
	}
	return false
}

func main() {
	var o options
	child := flag.String("child", "", "(internal) run one server as a child process")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measurement")
	flag.IntVar(&o.conns, "conns", 64, "concurrent connections for the throughput runs")
	flag.IntVar(&o.rate, "rate", 1000, "requests per second for the latency runs")
	flag.IntVar(&o.stormRate, "storm-rate", 5000, "requests per second of the storm the pipeline must drain")
	flag.DurationVar(&o.drainWait, "drain-wait", 30*time.Second, "how long after a storm's last delivery to wait for the pipeline")
	flag.BoolVar(&o.trace, "drain-trace", false, "print the drain's progress once a second")
	flag.StringVar(&o.pluginDir, "plugin-dir", "bin/plugins", "directory with aurora-plugin-pagerduty")
	flag.StringVar(&o.hubBin, "hub", "", "the aurora-hub binary the hub rows run (default: aurora-hub beside the plugin directory)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of each server to <this>-<row>-<phase>.pprof (and of the load generator in the closed loop, <this>-<row>-closed-loadgen.pprof)")
	flag.StringVar(&o.goTrace, "gotrace", "", "write an execution trace of each server to <this>-<row>-<phase>.trace (go tool trace -pprof=sched|net|sync|syscall)")
	flag.StringVar(&o.memProfile, "memprofile", "", "write a heap profile of each server to <this>-<row>-<phase>.heap when the phase's load ends (and print the Go runtime's memory)")
	flag.StringVar(&o.only, "only", "", "run only the rows whose name contains this")
	flag.StringVar(&o.postgres, "postgres", os.Getenv("HUB_BENCH_POSTGRES_URL"), "also run the hub rows on PostgreSQL: a URL whose user may create databases (default $HUB_BENCH_POSTGRES_URL)")
	flag.StringVar(&o.phases, "phases", "closed,rate,drain", "phases to run (comma-separated): closed (throughput, CPU), rate (latency at -rate), drain (storm drain)")
	flag.IntVar(&o.bodies, "bodies", 150_000, "distinct signed deliveries prepared per mix")
	flag.StringVar(&o.hubEnv, "server-env", "", "extra environment of the server processes, e.g. GOMEMLIMIT=48MiB (comma-separated)")
	flag.Parse()
	if o.hubBin == "" {
		o.hubBin = filepath.Join(filepath.Dir(filepath.Clean(o.pluginDir)), "aurora-hub")
	}
	if abs, err := filepath.Abs(o.hubBin); err == nil {
		o.hubBin = abs // the hub runs in a directory of its own
	}
	if *child != "" {
		if err := serveChild(*child); err != nil {
			fmt.Fprintln(os.Stderr, "hubbench child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "hubbench:", err)
		os.Exit(1)
	}
}

// row is one line of the table.
type row struct {
	name, kind string
	db         string // "sqlite" or "postgres" (hub rows)
	mix        string // "lifecycle" or "storm"
	hubRow     bool

	throughput float64
	errors     int64
	tp         percentiles // under full load
	fixed      percentiles // at the fixed rate
	fixedErrs  int64
	peakRSS    int64 // hub + plugin, bytes, the largest seen in any phase
	peakHub    int64 // the hub process alone
	peakPlugin int64 // the plugin process alone
	// closedCPU and fixedCPU: the CPU the servers used during the
	// closed-loop phase and the fixed-rate phase.
	closedCPU, fixedCPU cpuUse
	drain               *drain
	stormOK             int64
	stormErrs           int64
	stormLat            percentiles
	ran                 bool
}

func run(ctx context.Context, o options) error {
	for _, bin := range []string{filepath.Join(o.pluginDir, "aurora-plugin-pagerduty"), o.hubBin} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("binary not found (run make build): %w", err)
		}
	}
	rows := []*row{
		{name: "bare Fiber handler", kind: kindBare, mix: "lifecycle"},
		{name: "naive: Bun insert per request, autocommit", kind: kindNaiveInsert, mix: "lifecycle"},
		{name: "naive: go-plugin verify + Bun insert per request", kind: kindNaivePlugin, mix: "lifecycle"},
		{name: "hub, lifecycle (1,000 incidents triggered, acked, resolved)", kind: kindHub, db: "sqlite", mix: "lifecycle", hubRow: true},
		{name: "hub, storm (every delivery a new incident, 20 services)", kind: kindHub, db: "sqlite", mix: "storm", hubRow: true},
	}
	if o.postgres != "" {
		rows = append(rows,
			&row{name: "hub on PostgreSQL, lifecycle", kind: kindHub, db: "postgres", mix: "lifecycle", hubRow: true},
			&row{name: "hub on PostgreSQL, storm", kind: kindHub, db: "postgres", mix: "storm", hubRow: true},
		)
	}
	mixes := map[string][]loadgen.Body{}
	for _, r := range rows {
		if strings.Contains(r.name, o.only) && mixes[r.mix] == nil {
			if r.mix == "storm" {
				mixes[r.mix] = stormBodies(o.bodies)
			} else {
				mixes[r.mix] = lifecycleBodies(o.bodies)
			}
		}
	}
	fmt.Printf("hubbench: closed loop %d connections for %s; open loop %d req/s for %s; storm drain at %d req/s for %s; servers in child processes, sharing the machine with the load generator\n\n",
		o.conns, o.duration, o.rate, o.duration, o.stormRate, o.duration)
	for _, r := range rows {
		if !strings.Contains(r.name, o.only) {
			continue
		}
		if err := measure(ctx, o, r, mixes[r.mix]); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		r.ran = true
		fmt.Printf("  %s: done\n", r.name)
	}
	report(os.Stdout, o, rows)
	return nil
}

// outputPath is where a server of the row slug writes a file of the phase:
// <prefix>-<row>-<phase><ext>, absolute (the server runs elsewhere).
func outputPath(prefix, slug, phase, ext string) string {
	p := fmt.Sprintf("%s-%s-%s%s", prefix, strings.TrimSuffix(slug, "-"), phase, ext)
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// measure runs a row's phases, each against a fresh server and database,
// so a phase never inherits another's backlog.
func measure(ctx context.Context, o options, r *row, bodies []loadgen.Body) error {
	slug := strings.NewReplacer(" ", "-", ",", "", ":", "", "+", "", "(", "", ")", "").Replace(r.kind + "-" + r.mix + "-" + r.db)
	phase := func(name string, fn func(c *child, l *load, dbURL string) error) error {
		// A simulator per server: PagerDuty's rate limit (960 requests a
		// minute per token) must not carry over from one phase's
		// enrichment to the next phase's connect.
		simURL, stopSim := startSim()
		defer stopSim()
		cc := childConfig{Kind: r.kind, PluginDir: o.pluginDir, PagerDutyURL: simURL, Env: o.hubEnv}
		if o.cpuProfile != "" {
			cc.CPUProfile = outputPath(o.cpuProfile, slug, name, ".pprof")
		}
		if o.goTrace != "" {
			cc.Trace = outputPath(o.goTrace, slug, name, ".trace")
		}
		if o.memProfile != "" {
			cc.HeapProfile = outputPath(o.memProfile, slug, name, ".heap")
		}
		var drop func()
		if r.db == "postgres" {
			u, d, err := createDatabase(ctx, o.postgres)
			if err != nil {
				return err
			}
			cc.DBURL, drop = u, d
		}
		var c *child
		var err error
		if r.kind == kindHub {
			length := o.duration // what a profile or trace of the phase covers
			if name == "drain" {
				length += o.drainWait
			}
			c, err = startHub(ctx, cc, o.hubBin, length)
		} else {
			c, err = startChild(cc)
		}
		if err != nil {
			if drop != nil {
				drop()
			}
			return err
		}
		l := newLoad(c.url, bodies, name == "drain")
		c.resetPeak()
		err = fn(c, l, cc.DBURL)
		total, own, kids := c.peak()
		r.peakRSS, r.peakHub, r.peakPlugin = max(r.peakRSS, total), max(r.peakHub, own), max(r.peakPlugin, kids)
		if n := l.sent.Load(); n > int64(len(bodies)) && r.kind != kindBare {
			fmt.Printf("  warning: %s %s sent %d requests over %d distinct deliveries (raise -bodies)\n", r.name, name, n, len(bodies))
		}
		c.stop()
		if drop != nil {
			drop()
		}
		return err
	}
	if o.runs("closed") {
		if err := phase("closed", func(c *child, l *load, _ string) error {
			if o.cpuProfile != "" { // the load generator's own, beside the server's
				stop, err := startRecording(outputPath(o.cpuProfile, slug, "closed-loadgen", ".pprof"), pprof.StartCPUProfile, pprof.StopCPUProfile)
				if err != nil {
					return fmt.Errorf("load generator profile: %w", err)
				}
				defer stop()
			}
			cpu := startCPU(c, r.db)
			n, errs, p := l.closedLoop(o.conns, o.duration)
			r.closedCPU = cpu.stop(n)
			c.snapshotHeap() // after the CPU is read: writing it is not the delivery's cost
			r.throughput, r.errors, r.tp = float64(n)/o.duration.Seconds(), errs, p
			return nil
		}); err != nil {
			return err
		}
	}
	if !r.hubRow {
		return nil
	}
	if o.runs("rate") {
		if err := phase("rate", func(c *child, l *load, _ string) error {
			cpu := startCPU(c, r.db)
			var n int64
			r.fixed, n, r.fixedErrs = l.openLoop(o.rate, o.duration)
			r.fixedCPU = cpu.stop(n)
			c.snapshotHeap()
			return nil
		}); err != nil {
			return err
		}
	}
	if r.mix != "storm" || !o.runs("drain") {
		return nil
	}
	return phase("drain", func(c *child, l *load, dbURL string) error {
		began := time.Now()
		r.stormLat, r.stormOK, r.stormErrs = l.openLoop(o.stormRate, o.duration)
		c.snapshotHeap()
		var trace io.Writer
		if o.trace {
			trace = os.Stderr
			fmt.Fprintf(trace, "  storm delivered in %.1f s\n", time.Since(began).Seconds())
		}
		d, err := measureDrain(ctx, c, r.db, dbURL, l, o.drainWait, trace)
		r.drain = &d
		return err
	})
}

// createDatabase makes a fresh database beside base's; drop removes it.
func createDatabase(ctx context.Context, base string) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("postgres URL: %w", err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "hubbench_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	u.Path = "/" + name
	return u.String(), func() {
		admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	}, nil
}

// cpuUse is the CPU the servers of a row used during a phase, and the
// deliveries they accepted meanwhile (the pipeline's work included).
type cpuUse struct {
	hub, plugin time.Duration
	db          time.Duration // PostgreSQL's processes, when the hub is on it
	// gen is the load generator's (this process's) CPU: it shares the two
	// cores with the servers, so it is part of what caps a row.
	gen       time.Duration
	delivered int64
}

// cpuMark is the CPU readings at the start of a measurement.
type cpuMark struct {
	c               *child
	postgres        bool
	hub, plugin, db time.Duration
	gen             time.Duration
}

// startCPU reads the CPU of c (and of PostgreSQL's processes for a hub on
// PostgreSQL) at the start of a measurement.
func startCPU(c *child, db string) cpuMark {
	u := cpuMark{c: c, postgres: db == "postgres", gen: procstat.CPUTime(os.Getpid())}
	u.hub, u.plugin = procstat.TreeCPU(c.pid())
	if u.postgres {
		u.db = procstat.CommandCPU("postgres")
	}
	return u
}

// stop reads the CPU again: what was used since start, for n deliveries.
func (u cpuMark) stop(n int64) cpuUse {
	hub, plugin := procstat.TreeCPU(u.c.pid())
	out := cpuUse{hub: hub - u.hub, plugin: plugin - u.plugin, gen: procstat.CPUTime(os.Getpid()) - u.gen, delivered: n}
	if u.postgres {
		out.db = procstat.CommandCPU("postgres") - u.db
	}
	return out
}
