package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aurora-hub/aurora-hub/cmd/internal/hubproc"
)

// startHub runs aurora-hub (the binary operators run, with the PagerDuty
// plugin over gRPC and the pipeline running) on a fresh database, with a
// simulated PagerDuty account connected and a signing secret set. It
// serves its profiles on a metrics listener of its own (HUB_PPROF); those
// cc asks for are taken from there, over the phase's length.
func startHub(ctx context.Context, cc childConfig, bin string, length time.Duration) (*child, error) {
	dir, err := os.MkdirTemp("", "hubbench-")
	if err != nil {
		return nil, err
	}
	c, err := startHubIn(ctx, cc, bin, dir, length)
	if err != nil {
		os.RemoveAll(dir)
	}
	return c, err
}

func startHubIn(ctx context.Context, cc childConfig, bin, dir string, length time.Duration) (*child, error) {
	pluginDir, err := pagerDutyOnly(cc.PluginDir, dir)
	if err != nil {
		return nil, err
	}
	addr, err := hubproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := hubproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	dbURL := cc.DBURL
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(dir, "hub.db")
	}
	// This process's environment (GOMAXPROCS, HUB_* settings), then what
	// the bench fixes, then -server-env.
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for k, v := range map[string]string{
		"HUB_LISTEN": addr, "HUB_DATABASE_URL": dbURL, "HUB_PLUGIN_DIR": pluginDir,
		"HUB_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(key), "PAGERDUTY_API_URL": cc.PagerDutyURL,
		"HUB_METRICS_LISTEN": metricsAddr, "HUB_PPROF": "true", "HUB_LOG_LEVEL": "error",
	} {
		env[k] = v
	}
	if cc.Env != "" {
		for _, kv := range strings.Split(cc.Env, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	p, err := hubproc.Start(ctx, hubproc.Options{Bin: bin, Dir: dir, Env: env, Output: os.Stderr,
		StartTimeout: 90 * time.Second, DieWithParent: true})
	if err != nil {
		return nil, err
	}
	for _, step := range []struct{ method, path, body string }{
		{"POST", "/pagerduty", `{"token":"` + token + `"}`},
		{"PUT", "/pagerduty/webhook-secret", `{"secret":"` + secret + `"}`},
	} {
		code, _, err := call(p.URL, step.method, step.path, step.body)
		if err != nil || code != 200 {
			p.Stop(30 * time.Second)
			return nil, fmt.Errorf("%s %s: %d %v", step.method, step.path, code, err)
		}
	}
	c := &child{hub: p, url: p.URL, dir: dir, stopRSS: make(chan struct{}), rssDone: make(chan struct{}),
		prof: &hubProfiles{base: "http://" + metricsAddr + "/debug/pprof", heapFile: cc.HeapProfile}}
	c.prof.start(cc.CPUProfile, "profile", length)
	c.prof.start(cc.Trace, "trace", length)
	go c.sampleRSS()
	return c, nil
}

// hubProfiles takes a hub's profiles from its /debug/pprof.
type hubProfiles struct {
	base     string
	heapFile string
	pending  sync.WaitGroup
}

// start writes to path, in the background, what /debug/pprof/<what>
// records over length (a CPU profile or an execution trace); nothing when
// path is empty.
func (h *hubProfiles) start(path, what string, length time.Duration) {
	if path == "" {
		return
	}
	h.pending.Add(1)
	go func() {
		defer h.pending.Done()
		secs := strconv.Itoa(int((length + time.Second - 1) / time.Second))
		if err := fetchTo(h.base+"/"+what+"?seconds="+secs, path); err != nil {
			fmt.Fprintf(os.Stderr, "  warning: %s: %v\n", what, err)
		}
	}()
}

// wait returns once the profiles started are written.
func (h *hubProfiles) wait() { h.pending.Wait() }

// heap writes the hub's heap and goroutine profiles, if asked for, and
// prints where the Go runtime's memory is.
func (h *hubProfiles) heap() {
	if h.heapFile == "" {
		return
	}
	if err := fetchTo(h.base+"/heap", h.heapFile); err != nil {
		fmt.Fprintf(os.Stderr, "  warning: heap profile: %v\n", err)
		return
	}
	goroutines := strings.TrimSuffix(h.heapFile, ".heap") + ".goroutines"
	if err := fetchTo(h.base+"/goroutine?debug=1", goroutines); err != nil {
		fmt.Fprintf(os.Stderr, "  warning: goroutine profile: %v\n", err)
		return
	}
	mem, err := memStats(h.base + "/heap?debug=1")
	if err != nil {
		fmt.Fprintf(os.Stderr, "  warning: memory statistics: %v\n", err)
		return
	}
	n, _ := goroutineCount(goroutines)
	const mib = 1 << 20
	f := func(k string) float64 { return float64(mem[k]) / mib }
	fmt.Fprintf(os.Stderr, "  heap: %.1f MiB in use, %.1f idle of which %.1f returned to the OS, stacks %.1f, runtime other %.1f, %.1f obtained from the OS; %d GCs, %d goroutines\n",
		f("HeapInuse"), f("HeapIdle"), f("HeapReleased"), f("StackSys"), f("Sys")-f("HeapSys")-f("StackSys"), f("Sys"), mem["NumGC"], n)
}

func fetchTo(url, path string) error {
	res, err := http.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// memStats reads the runtime.MemStats lines ("# HeapInuse = 123") that a
// heap profile in text form ends with.
func memStats(url string) (map[string]uint64, error) {
	res, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok {
			continue
		}
		if _, sys, pair := strings.Cut(v, " / "); pair { // "Stack = inuse / sys"
			k, v = k+"Sys", sys
		}
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			out[k] = n
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("GET %s: no runtime.MemStats", url)
	}
	return out, sc.Err()
}

// goroutineCount reads "goroutine profile: total N" off a goroutine
// profile in text form.
func goroutineCount(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total")))
	return n, err
}
