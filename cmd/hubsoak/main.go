// Command hubsoak runs built hubs (bin/aurora-hub with its plugins) under a
// bounded, steady webhook load and records, every few seconds, accepted
// requests per second, p99 latency, the RSS of each hub and its plugins,
// the SQLite write-ahead log's size and the pipeline's queue depth, to a
// CSV and a PNG plot; at the end it judges whether memory, the WAL and the
// queue stayed flat. It also measures sizing: -replicas N on PostgreSQL,
// and -rate 0 for the most a setup accepts.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aurora-hub/aurora-hub/cmd/internal/hubproc"
	"github.com/aurora-hub/aurora-hub/cmd/internal/loadgen"
	"github.com/aurora-hub/aurora-hub/cmd/internal/procstat"
	"github.com/aurora-hub/aurora-hub/tools/pdsim"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

const (
	userID = "soak-user"
	token  = "u+soak-token-00000001"
	secret = "whsec-soak-00000000001"
)

type options struct {
	duration, interval time.Duration
	rate, conns        int
	replicas           int
	databaseURL        string
	binDir, outDir     string
	rssLimitMB         float64
	walLimitMB         float64
	queue              bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long to drive load (at most 4h)")
	flag.DurationVar(&o.interval, "interval", 5*time.Second, "sampling interval")
	flag.IntVar(&o.rate, "rate", 500, "webhooks per second, on a fixed schedule; 0 drives as many as -conns connections carry")
	flag.IntVar(&o.conns, "conns", 64, "connections for -rate 0")
	flag.IntVar(&o.replicas, "replicas", 1, "hub processes sharing the database (PostgreSQL only for more than 1); the load goes round robin")
	flag.StringVar(&o.databaseURL, "database-url", "", "HUB_DATABASE_URL (default: a fresh SQLite file in the run directory)")
	flag.StringVar(&o.binDir, "bin", "bin", "directory with aurora-hub and plugins/aurora-plugin-pagerduty (make build)")
	flag.StringVar(&o.outDir, "out", "out/soak", "where each run's directory (CSV, PNG, hub logs, database) goes")
	flag.Float64Var(&o.rssLimitMB, "rss-growth-limit", 20, "largest RSS trend (MB/h per hub with its plugins, over the second half of a run with at least 120 samples) still called flat")
	flag.Float64Var(&o.walLimitMB, "wal-limit", 256, "largest WAL size (MB) still called bounded")
	flag.BoolVar(&o.queue, "queue", true, "sample the queue depth from the database (a reader beside the hub)")
	flag.Parse()
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "hubsoak:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubsoak:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

func (o *options) check() error {
	switch {
	case o.duration <= 0 || o.duration > 4*time.Hour:
		return errors.New("-duration must be in (0, 4h]")
	case o.interval < time.Second || o.interval > o.duration:
		return errors.New("-interval must be at least 1s and at most -duration")
	case o.rate < 0 || o.rate > 50_000:
		return errors.New("-rate must be in [0, 50000]")
	case o.conns < 1 || o.conns > 1024:
		return errors.New("-conns must be in [1, 1024]")
	case o.replicas < 1 || o.replicas > 8:
		return errors.New("-replicas must be in [1, 8]")
	case o.replicas > 1 && !strings.HasPrefix(o.databaseURL, "postgres"):
		return errors.New("-replicas above 1 needs -database-url postgres://...: SQLite serves one hub")
	}
	return nil
}

func run(ctx context.Context, o options) (bool, error) {
	for _, p := range []string{"aurora-hub", "plugins/aurora-plugin-pagerduty"} {
		if _, err := os.Stat(filepath.Join(o.binDir, p)); err != nil {
			return false, fmt.Errorf("%s not found (run make build): %w", p, err)
		}
	}
	runID := time.Now().UTC().Format("20060102T150405Z")
	dir, err := filepath.Abs(filepath.Join(o.outDir, runID))
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	sqlitePath := ""
	if o.databaseURL == "" {
		sqlitePath = filepath.Join(dir, "hub.db")
		o.databaseURL = "sqlite://" + sqlitePath
	}

	sim := pdsim.New(pdsim.Options{})
	ts := httptest.NewServer(sim)
	defer func() { ts.Close(); sim.Close() }()
	sim.SetBaseURL(ts.URL)
	sim.AddUser(pdsim.User{ID: "PSOAK01", Name: "Soak", Email: "soak@example.com", Role: "admin"})
	sim.AddAPIKey(pdsim.APIKey{Token: token, UserID: "PSOAK01"})
	sim.AddService(pdsim.Service{ID: "PSVC001", Name: "payments-api"})

	key := make([]byte, 32)
	rand.Read(key)
	var hubs []*hubProc
	defer func() {
		for _, h := range hubs {
			h.stop()
		}
	}()
	for i := range o.replicas {
		h, err := startHub(ctx, o, dir, i, map[string]string{
			"HUB_DATABASE_URL": o.databaseURL, "HUB_PLUGIN_DIR": filepath.Join(o.binDir, "plugins"),
			"HUB_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(key), "PAGERDUTY_API_URL": ts.URL,
			"HUB_LOG_LEVEL": "warn", "HUB_LOG_FORMAT": "text",
		})
		if err != nil {
			return false, err
		}
		hubs = append(hubs, h)
	}
	if err := setup(hubs[0].URL); err != nil {
		return false, err
	}
	q, err := openQueue(o.databaseURL)
	if err != nil {
		return false, err
	}
	defer q.Close()

	var targets []string
	for _, h := range hubs {
		targets = append(targets, h.URL)
	}
	n := 200_000
	if o.rate > 0 {
		n = min(n, o.rate*int(o.duration.Seconds())+1)
	}
	prefix := make([]byte, 3)
	rand.Read(prefix)
	bodies := loadgen.MakeBodies(n, secret, strings.ToUpper(hex.EncodeToString(prefix)))
	workers := o.conns
	if o.rate > 0 {
		workers = min(1024, max(64, o.rate/20))
	}
	gen := loadgen.New(targets, userID, bodies, workers)

	csvPath := filepath.Join(dir, "soak.csv")
	rec, err := newRecorder(csvPath, o.replicas)
	if err != nil {
		return false, err
	}
	defer rec.close()
	fmt.Printf("hubsoak: %s, %d hub(s) on %s, %s; samples every %s\n  run directory %s\n",
		o.duration, o.replicas, redact(o.databaseURL), loadDesc(o), o.interval, dir)

	start := time.Now()
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		if o.rate > 0 {
			gen.OpenLoop(o.rate, workers, o.duration, ctx.Done(), rec.record)
		} else {
			gen.ClosedLoop(o.conns, o.duration, rec.record) // bounded by -duration
		}
	}()
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	sample := func(phase string) (sampleRow, error) {
		s := rec.take(time.Since(start), phase)
		for _, h := range hubs {
			hub, plugins := h.rss()
			s.hubRSS = append(s.hubRSS, hub)
			s.pluginRSS = append(s.pluginRSS, plugins)
		}
		if sqlitePath != "" {
			s.walMB = fileMB(sqlitePath + "-wal")
			s.dbMB = fileMB(sqlitePath)
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if o.queue {
			var err error
			s.inbox, s.jobsAvailable, s.jobsRunning, err = q.depth(qctx)
			if err != nil {
				return s, err
			}
		}
		for _, h := range hubs {
			if h.Exited() {
				return s, fmt.Errorf("hub %d exited; its log: %s", h.index, h.logPath)
			}
		}
		return s, rec.write(s)
	}
loop:
	for {
		select {
		case <-loadDone:
			break loop
		case <-tick.C:
			s, err := sample("load")
			if err != nil {
				return false, err
			}
			fmt.Printf("  %5.0fs  %6.0f accepted/s  p99 %7.1f ms  hub RSS %6.1f MB  WAL %6.1f MB  inbox %6d  jobs %d\n",
				s.t.Seconds(), s.acceptedPerS, s.p99ms, sum(s.hubRSS), s.walMB, s.inbox, s.jobsAvailable+s.jobsRunning)
		}
	}
	// Drain: how long the pipeline takes to apply what was accepted.
	drainStart := time.Now()
	drained := false
	for o.queue && time.Since(drainStart) < 60*time.Second && ctx.Err() == nil {
		time.Sleep(time.Second)
		s, err := sample("drain")
		if err != nil {
			return false, err
		}
		if s.inbox == 0 {
			drained = true
			break
		}
	}
	for _, h := range hubs {
		h.stop()
	}
	rows := rec.rows()
	pngPath := filepath.Join(dir, "soak.png")
	if err := plotRows(pngPath, rows, o); err != nil {
		return false, fmt.Errorf("plotting: %w", err)
	}
	v := judge(rows, o)
	fmt.Printf("\n%s\n", v.summary(rec.total()))
	switch {
	case !o.queue:
	case drained:
		fmt.Printf("  drain: inbox empty %.1fs after the load stopped\n", time.Since(drainStart).Seconds()-1)
	default:
		fmt.Printf("  drain: inbox not empty 60s after the load stopped\n")
	}
	fmt.Printf("  CSV %s\n  PNG %s\n", csvPath, pngPath)
	return v.ok, nil
}

func loadDesc(o options) string {
	if o.rate > 0 {
		return fmt.Sprintf("%d webhooks/s on a fixed schedule", o.rate)
	}
	return fmt.Sprintf("closed loop with %d connections", o.conns)
}

func redact(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j > 0 && j < i {
			return u[:j+3] + "…" + u[i:]
		}
	}
	return u
}

func fileMB(path string) float64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return float64(fi.Size()) / (1 << 20)
}

func sum(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}

// setup connects the simulated PagerDuty account and sets the signing secret.
func setup(url string) error {
	for _, step := range []struct{ method, path, body string }{
		{"POST", "/pagerduty", `{"token":"` + token + `"}`},
		{"PUT", "/pagerduty/webhook-secret", `{"secret":"` + secret + `"}`},
	} {
		req, err := http.NewRequest(step.method, url+step.path, strings.NewReader(step.body))
		if err != nil {
			return err
		}
		req.Header.Set("X-User-ID", userID)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", step.method, step.path, err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("%s %s: status %d", step.method, step.path, res.StatusCode)
		}
	}
	return nil
}

// hubProc is one aurora-hub process and its log file.
type hubProc struct {
	*hubproc.Process
	index   int
	logPath string
}

func startHub(ctx context.Context, o options, dir string, i int, env map[string]string) (*hubProc, error) {
	addr, err := hubproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	h := &hubProc{index: i, logPath: filepath.Join(dir, fmt.Sprintf("hub-%d.log", i))}
	logf, err := os.Create(h.logPath)
	if err != nil {
		return nil, err
	}
	bin, err := filepath.Abs(filepath.Join(o.binDir, "aurora-hub"))
	if err != nil {
		logf.Close()
		return nil, err
	}
	full := map[string]string{"HUB_LISTEN": addr, "PATH": os.Getenv("PATH")}
	for k, v := range env {
		if k == "HUB_PLUGIN_DIR" {
			v, _ = filepath.Abs(v)
		}
		full[k] = v
	}
	h.Process, err = hubproc.Start(ctx, hubproc.Options{Bin: bin, Dir: dir, Env: full, Output: logf, StartTimeout: 60 * time.Second})
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("hub %d: %w; see %s", i, err, h.logPath)
	}
	go func() { <-h.Done(); logf.Close() }()
	return h, nil
}

// stop sends SIGTERM and waits for the graceful shutdown (SIGKILL after 30 s).
func (h *hubProc) stop() { h.Stop(30 * time.Second) }

// rss returns the resident memory (MB) of the hub and of its plugin processes.
func (h *hubProc) rss() (hub, plugins float64) {
	own, kids := procstat.TreeRSS(h.Pid())
	return float64(own) / (1 << 20), float64(kids) / (1 << 20)
}

// queue reads the pipeline's backlog from the hub's database.
type queue struct{ db *sql.DB }

func openQueue(databaseURL string) (*queue, error) {
	var db *sql.DB
	var err error
	if path, ok := strings.CutPrefix(databaseURL, "sqlite://"); ok {
		// A reader beside the hub: WAL mode lets it read while the hub writes.
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	} else {
		db, err = sql.Open("pgx", databaseURL)
	}
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &queue{db: db}, nil
}

func (q *queue) Close() error { return q.db.Close() }

// depth is the number of accepted events not yet applied, and River's jobs
// waiting and running.
func (q *queue) depth(ctx context.Context) (inbox, available, running int, err error) {
	if err := q.db.QueryRowContext(ctx, "SELECT count(*) FROM webhook_inbox WHERE applied_at IS NULL").Scan(&inbox); err != nil {
		return 0, 0, 0, fmt.Errorf("reading the inbox backlog: %w", err)
	}
	err = q.db.QueryRowContext(ctx, "SELECT "+
		"coalesce(sum(CASE WHEN state IN ('available', 'scheduled', 'retryable') THEN 1 ELSE 0 END), 0), "+
		"coalesce(sum(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0) FROM river_job").Scan(&available, &running)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("reading River's jobs: %w", err)
	}
	return inbox, available, running, nil
}

// sampleRow is one line of the CSV.
type sampleRow struct {
	t                                 time.Duration
	phase                             string
	accepted, errors                  int
	acceptedPerS, p50ms, p99ms        float64
	hubRSS, pluginRSS                 []float64 // per replica, MB
	walMB, dbMB                       float64
	inbox, jobsAvailable, jobsRunning int
}

// recorder collects request outcomes between samples and writes samples.
type recorder struct {
	mu        sync.Mutex
	lat       []time.Duration
	ok, errs  int
	lastT     time.Duration
	all       []sampleRow
	f         *os.File
	w         *csv.Writer
	replicas  int
	sumOK     int
	sumErrors int
}

func newRecorder(path string, replicas int) (*recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	r := &recorder{f: f, w: csv.NewWriter(f), replicas: replicas}
	head := []string{"t_s", "phase", "accepted", "errors", "accepted_per_s", "p50_ms", "p99_ms"}
	for i := range replicas {
		head = append(head, fmt.Sprintf("hub%d_rss_mb", i), fmt.Sprintf("hub%d_plugin_rss_mb", i))
	}
	head = append(head, "wal_mb", "db_mb", "inbox_pending", "jobs_available", "jobs_running")
	r.w.Write(head)
	r.w.Flush()
	return r, r.w.Error()
}

func (r *recorder) record(_, _ int, _ time.Time, l time.Duration, ok bool) {
	r.mu.Lock()
	r.lat = append(r.lat, l)
	if ok {
		r.ok++
	} else {
		r.errs++
	}
	r.mu.Unlock()
}

// take starts a new window and returns the closing one's figures.
func (r *recorder) take(t time.Duration, phase string) sampleRow {
	r.mu.Lock()
	lat, ok, errs := r.lat, r.ok, r.errs
	r.lat, r.ok, r.errs = make([]time.Duration, 0, len(lat)), 0, 0
	r.sumOK += ok
	r.sumErrors += errs
	r.mu.Unlock()
	p := loadgen.Summarize(lat)
	s := sampleRow{t: t, phase: phase, accepted: ok, errors: errs,
		p50ms: float64(p.P50) / 1e6, p99ms: float64(p.P99) / 1e6}
	if dt := (t - r.lastT).Seconds(); dt > 0 {
		s.acceptedPerS = float64(ok) / dt
	}
	r.lastT = t
	return s
}

func (r *recorder) write(s sampleRow) error {
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) }
	row := []string{f(s.t.Seconds()), s.phase, strconv.Itoa(s.accepted), strconv.Itoa(s.errors), f(s.acceptedPerS), f(s.p50ms), f(s.p99ms)}
	for i := range s.hubRSS {
		row = append(row, f(s.hubRSS[i]), f(s.pluginRSS[i]))
	}
	row = append(row, f(s.walMB), f(s.dbMB), strconv.Itoa(s.inbox), strconv.Itoa(s.jobsAvailable), strconv.Itoa(s.jobsRunning))
	r.w.Write(row)
	r.w.Flush()
	r.mu.Lock()
	r.all = append(r.all, s)
	r.mu.Unlock()
	return r.w.Error()
}

func (r *recorder) rows() []sampleRow {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sampleRow(nil), r.all...)
}

func (r *recorder) total() (ok, errs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sumOK, r.sumErrors
}

func (r *recorder) close() { r.w.Flush(); r.f.Close() }
