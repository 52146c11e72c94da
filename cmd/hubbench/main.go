// Command hubbench measures the webhook path: signed PagerDuty webhooks
// driven through a running hub into SQLite, beside two baselines measured in
// the same run: a bare Fiber handler, and the same pipeline with the
// provider called in-process instead of over gRPC.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aurora-hub/aurora-hub/cmd/internal/loadgen"
	"github.com/aurora-hub/aurora-hub/hub/app"
	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/plugins/pagerduty"
	"github.com/aurora-hub/aurora-hub/plugins/pagerduty/pdsim"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/gofiber/fiber/v2"
	"github.com/hashicorp/go-hclog"
	"github.com/valyala/fasthttp"
)

const (
	userID = "bench-user"
	token  = "u+bench-token-0000001"
	secret = "whsec-bench-0000000001"
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "length of each measurement")
	conns := flag.Int("conns", 64, "concurrent connections for the throughput run")
	rate := flag.Int("rate", 1000, "requests per second for the latency run")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "directory with aurora-plugin-pagerduty")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	only := flag.String("only", "", "run only the paths whose name contains this")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hubbench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*duration, *conns, *rate, *pluginDir, *only); err != nil {
		fmt.Fprintln(os.Stderr, "hubbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

type variant struct {
	name  string
	start func() (url string, stop func(), err error)
}

type result struct {
	name       string
	throughput float64
	errors     int64
	tp         loadgen.Percentiles // latencies under full load
	fixed      loadgen.Percentiles // latencies at the fixed rate
	fixedErrs  int64
}

func run(duration time.Duration, conns, rate int, pluginDir, only string) error {
	if _, err := os.Stat(filepath.Join(pluginDir, "aurora-plugin-pagerduty")); err != nil {
		return fmt.Errorf("plugin binary not found (run make build): %w", err)
	}
	bodies := loadgen.MakeBodies(200_000, secret, "")
	variants := []variant{
		{"bare Fiber handler", startBare},
		{"hub, provider in-process", func() (string, func(), error) { return startHub(pluginDir, true) }},
		{"hub, plugin over gRPC", func() (string, func(), error) { return startHub(pluginDir, false) }},
	}
	fmt.Printf("hubbench: %d connections for %s, then %d req/s for %s; SQLite; GOMAXPROCS shared with the load generator\n\n", conns, duration, rate, duration)
	var results []result
	for _, v := range variants {
		if !strings.Contains(v.name, only) {
			continue
		}
		r := result{name: v.name}
		// A fresh hub (and database) per phase, so the latency run does not
		// inherit the throughput run's backlog.
		url, stop, err := v.start()
		if err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		var n int64
		n, r.errors, r.tp = closedLoop(url, bodies, conns, duration)
		r.throughput = float64(n) / duration.Seconds()
		stop()
		url, stop, err = v.start()
		if err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
		r.fixed, r.fixedErrs = openLoop(url, bodies, rate, duration)
		stop()
		results = append(results, r)
		fmt.Printf("  %-26s done\n", v.name)
	}
	fmt.Println()
	fmt.Println("| path | accepted/s | errors | p50 | p99 (full load) | p50 @ rate | p99 @ rate | errors @ rate |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Printf("| %s | %.0f | %d | %s | %s | %s | %s | %d |\n", r.name, r.throughput, r.errors, ms(r.tp.P50), ms(r.tp.P99), ms(r.fixed.P50), ms(r.fixed.P99), r.fixedErrs)
	}
	if len(results) == 3 && results[1].throughput > 0 {
		fmt.Printf("\ngRPC path / in-process: %.0f%%\n", 100*results[2].throughput/results[1].throughput)
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func startBare() (string, func(), error) {
	addr, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	f := fiber.New(fiber.Config{DisableStartupMessage: true})
	f.Post("/pagerduty/webhook/:user_id", func(c *fiber.Ctx) error {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"received": true})
	})
	go f.Listen(addr)
	if err := waitListening(addr); err != nil {
		return "", nil, err
	}
	return "http://" + addr, func() { f.Shutdown() }, nil
}

// startHub runs a whole hub in this process on a fresh SQLite database,
// with a simulated PagerDuty account connected and a signing secret set.
func startHub(pluginDir string, inProcess bool) (string, func(), error) {
	sim := pdsim.New(pdsim.Options{})
	ts := httptest.NewServer(sim)
	sim.SetBaseURL(ts.URL)
	sim.AddUser(pdsim.User{ID: "PBENCH1", Name: "Bench", Email: "bench@example.com", Role: "admin"})
	sim.AddAPIKey(pdsim.APIKey{Token: token, UserID: "PBENCH1"})

	dir, err := os.MkdirTemp("", "hubbench-")
	if err != nil {
		return "", nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	env := map[string]string{
		"HUB_LISTEN": addr, "HUB_DATABASE_URL": "sqlite://" + filepath.Join(dir, "hub.db"),
		"HUB_PLUGIN_DIR": pluginDir, "HUB_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(key),
		"PAGERDUTY_API_URL": ts.URL,
	}
	cfg, err := config.FromEnv(env)
	if err != nil {
		return "", nil, err
	}
	opts := app.Options{Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: os.Stderr})}
	if inProcess {
		opts.SkipPluginDir = true
		opts.LocalProviders = []sdk.Provider{pagerduty.New(pagerduty.Config{APIURL: ts.URL, OAuthURL: ts.URL})}
	}
	ctx := context.Background()
	a, err := app.New(ctx, cfg, opts)
	if err != nil {
		return "", nil, err
	}
	go a.Serve(ctx)
	stop := func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		a.Close(sctx)
		ts.Close()
		sim.Close()
		os.RemoveAll(dir)
	}
	if err := waitListening(addr); err != nil {
		stop()
		return "", nil, err
	}
	url := "http://" + addr
	for _, step := range []struct{ method, path, body string }{
		{"POST", "/pagerduty", `{"token":"` + token + `"}`},
		{"PUT", "/pagerduty/webhook-secret", `{"secret":"` + secret + `"}`},
	} {
		req := fasthttp.AcquireRequest()
		res := fasthttp.AcquireResponse()
		req.SetRequestURI(url + step.path)
		req.Header.SetMethod(step.method)
		req.Header.Set("X-User-ID", userID)
		req.Header.SetContentType("application/json")
		req.SetBodyString(step.body)
		err := fasthttp.DoTimeout(req, res, 10*time.Second)
		code := res.StatusCode()
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(res)
		if err != nil || code != 200 {
			stop()
			return "", nil, fmt.Errorf("%s %s: %d %v", step.method, step.path, code, err)
		}
	}
	return url, stop, nil
}

func waitListening(addr string) error {
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}

// closedLoop keeps conns requests in flight for d.
func closedLoop(url string, bodies []loadgen.Body, conns int, d time.Duration) (ok, errs int64, p loadgen.Percentiles) {
	lat := make([][]time.Duration, conns)
	var nOK, nErr atomic.Int64
	loadgen.New([]string{url}, userID, bodies, conns).ClosedLoop(conns, d, func(w int, _ time.Time, l time.Duration, ok bool) {
		if ok {
			nOK.Add(1)
		} else {
			nErr.Add(1)
		}
		lat[w] = append(lat[w], l)
	})
	return nOK.Load(), nErr.Load(), loadgen.Summarize(lat...)
}

// openLoop sends rate requests per second for d on a fixed schedule and
// measures each from its scheduled time (no coordinated omission).
func openLoop(url string, bodies []loadgen.Body, rate int, d time.Duration) (loadgen.Percentiles, int64) {
	const workers = 256
	lat := make([][]time.Duration, workers)
	var nErr atomic.Int64
	loadgen.New([]string{url}, userID, bodies, workers).OpenLoop(rate, workers, d, nil, func(w int, _ time.Time, l time.Duration, ok bool) {
		if !ok {
			nErr.Add(1)
		}
		lat[w] = append(lat[w], l)
	})
	return loadgen.Summarize(lat...), nErr.Load()
}
