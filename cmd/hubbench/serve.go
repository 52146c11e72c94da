package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"
	"time"

	"github.com/aurora-hub/aurora-hub/cmd/internal/hubproc"
	"github.com/aurora-hub/aurora-hub/hub/pluginhost"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/host"
	"github.com/aurora-hub/aurora-hub/tools/pdsim"
	"github.com/gofiber/fiber/v2"
	"github.com/hashicorp/go-hclog"
	"github.com/valyala/fasthttp"
)

// Server kinds: each runs in a process of its own, so its RSS and CPU
// profile are its own, not the load generator's: the hub is aurora-hub
// itself (startHub), the others this binary with -child (serveChild).
const (
	kindBare        = "bare"
	kindNaiveInsert = "naive-insert"
	kindNaivePlugin = "naive-plugin"
	kindHub         = "hub"
)

// childConfig is what the parent hands a child server (as JSON in argv).
type childConfig struct {
	Kind       string
	PluginDir  string
	Dir        string // for SQLite files
	DBURL      string // postgres:// for the hub on PostgreSQL, else SQLite in Dir
	CPUProfile string
	Trace      string // execution trace (runtime/trace)
	// HeapProfile is written on SIGUSR1 (when the phase's load ends).
	HeapProfile string
	// PagerDutyURL is the simulator (run by the parent, so its memory is
	// not counted as the hub's).
	PagerDutyURL string
	// Env is extra environment for the server process (comma-separated).
	Env string `json:"-"`
}

// serveChild runs one server until SIGTERM, printing "READY <url>" once it
// takes requests.
func serveChild(arg string) error {
	var cc childConfig
	if err := json.Unmarshal([]byte(arg), &cc); err != nil {
		return fmt.Errorf("child config: %w", err)
	}
	for _, rec := range []struct {
		path  string
		start func(io.Writer) error
		stop  func()
	}{
		{cc.CPUProfile, pprof.StartCPUProfile, pprof.StopCPUProfile},
		{cc.Trace, trace.Start, trace.Stop},
	} {
		if rec.path == "" {
			continue
		}
		stop, err := startRecording(rec.path, rec.start, rec.stop)
		if err != nil {
			return err
		}
		defer stop()
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	if cc.HeapProfile != "" {
		go writeHeapOnSignal(ctx, cc.HeapProfile)
	}
	var (
		url  string
		stop func()
		err  error
	)
	switch cc.Kind {
	case kindBare:
		url, stop, err = startBare()
	case kindNaiveInsert:
		url, stop, err = startNaive(ctx, cc, false)
	case kindNaivePlugin:
		url, stop, err = startNaive(ctx, cc, true)
	default:
		err = fmt.Errorf("unknown server kind %q", cc.Kind)
	}
	if err != nil {
		return err
	}
	fmt.Printf("READY %s\n", url)
	<-ctx.Done()
	stop()
	return nil
}

// startRecording writes what start records (a CPU profile, an execution
// trace) of this process to path, until the stop it returns.
func startRecording(path string, start func(io.Writer) error, stop func()) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { stop(); f.Close() }, nil
}

// heapWrittenLine is what a child prints on stdout once it has written
// its heap profile (the parent waits for it).
const heapWrittenLine = "HEAP WRITTEN"

// writeHeapOnSignal writes a heap profile to path on each SIGUSR1, and
// prints where the Go runtime's memory is at that moment.
func writeHeapOnSignal(ctx context.Context, path string) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	defer signal.Stop(sig)
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
		if f, err := os.Create(path); err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
		if f, err := os.Create(strings.TrimSuffix(path, ".heap") + ".goroutines"); err == nil {
			pprof.Lookup("goroutine").WriteTo(f, 1)
			f.Close()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(live)
		const mib = 1 << 20
		fmt.Fprintf(os.Stderr, "  heap: %.1f MiB in use (%.1f live after the last GC), %.1f idle of which %.1f returned to the OS, stacks %.1f, runtime other %.1f, %.1f obtained from the OS; %d GCs, %d goroutines\n",
			float64(m.HeapInuse)/mib, float64(live[0].Value.Uint64())/mib, float64(m.HeapIdle)/mib, float64(m.HeapReleased)/mib,
			float64(m.StackSys)/mib, float64(m.Sys-m.HeapSys-m.StackSys)/mib, float64(m.Sys)/mib, m.NumGC, runtime.NumGoroutine())
		fmt.Println(heapWrittenLine)
	}
}

func listen(f *fiber.App) (string, error) {
	addr, err := hubproc.FreeAddr()
	if err != nil {
		return "", err
	}
	go f.Listen(addr)
	if err := waitListening(addr); err != nil {
		return "", err
	}
	return "http://" + addr, nil
}

func startBare() (string, func(), error) {
	f := fiber.New(fiber.Config{DisableStartupMessage: true})
	f.Post("/pagerduty/webhook/:user_id", func(c *fiber.Ctx) error {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"received": true})
	})
	url, err := listen(f)
	return url, func() { f.Shutdown() }, err
}

// startNaive is the design the hub's group commit is measured against: one
// Bun insert per request in autocommit on the same single-connection SQLite
// store, optionally after the PagerDuty plugin verified and parsed the
// delivery over gRPC (withPlugin). No queue, no pipeline.
func startNaive(ctx context.Context, cc childConfig, withPlugin bool) (string, func(), error) {
	st, err := store.Open(ctx, store.Options{Driver: "sqlite", SQLitePath: filepath.Join(cc.Dir, "naive.db")})
	if err != nil {
		return "", nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return "", nil, err
	}
	var ph *pluginhost.Host
	var client host.Capabilities
	if withPlugin {
		popts, err := pluginhost.OptionsFromEnv(map[string]string{})
		if err != nil {
			st.Close()
			return "", nil, err
		}
		popts.Dir, popts.Logger = cc.PluginDir, hclog.NewNullLogger()
		ph = pluginhost.New(popts)
		if err := ph.Start(ctx); err != nil {
			st.Close()
			return "", nil, err
		}
		p, ok := ph.Get("pagerduty")
		if !ok || p.Client == nil {
			ph.Close()
			st.Close()
			return "", nil, fmt.Errorf("pagerduty plugin not running")
		}
		client = p.Client
	}
	f := fiber.New(fiber.Config{DisableStartupMessage: true})
	f.Post("/pagerduty/webhook/:user_id", func(c *fiber.Ctx) error {
		now := time.Now().UTC()
		var rows []store.InboxEvent
		if withPlugin {
			res, err := client.HandleWebhook(c.UserContext(), &sdk.WebhookRequest{
				Body:    c.Body(),
				Header:  map[string][]string{"X-Pagerduty-Signature": {string(c.Request().Header.Peek("X-PagerDuty-Signature"))}},
				Secrets: []string{secret},
			})
			if err != nil {
				return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": err.Error()})
			}
			for _, ev := range res.Events {
				enc, _ := json.Marshal(ev)
				rows = append(rows, store.InboxEvent{Provider: "pagerduty", ConnectionID: "naive", OwnerKind: "user", OwnerID: userID,
					EventID: ev.ID, EventType: ev.Type, Verified: res.Verified, Event: string(enc), ReceivedAt: now})
			}
		} else {
			var body struct {
				Event struct {
					ID        string `json:"id"`
					EventType string `json:"event_type"`
				} `json:"event"`
			}
			if err := json.Unmarshal(c.Body(), &body); err != nil {
				return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": err.Error()})
			}
			rows = append(rows, store.InboxEvent{Provider: "pagerduty", ConnectionID: "naive", OwnerKind: "user", OwnerID: userID,
				EventID: body.Event.ID, EventType: body.Event.EventType, Event: string(c.Body()), ReceivedAt: now})
		}
		if len(rows) > 0 {
			_, err := st.Bun().NewInsert().Model(&rows).On("CONFLICT (provider, connection_id, event_id) DO NOTHING").Exec(c.UserContext())
			if err != nil {
				return c.Status(fiber.StatusInternalServerError).JSON(fiber.Map{"error": err.Error()})
			}
		}
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"received": true})
	})
	url, err := listen(f)
	stop := func() {
		f.Shutdown()
		if ph != nil {
			ph.Close()
		}
		st.Close()
	}
	if err != nil {
		stop()
		return "", nil, err
	}
	return url, stop, nil
}

// startSim runs the PagerDuty simulator the hubs connect to.
func startSim() (url string, stop func()) {
	sim := pdsim.New(pdsim.Options{})
	ts := httptest.NewServer(sim)
	sim.SetBaseURL(ts.URL)
	sim.AddUser(pdsim.User{ID: "PBENCH1", Name: "Bench", Email: "bench@example.com", Role: "admin"})
	sim.AddAPIKey(pdsim.APIKey{Token: token, UserID: "PBENCH1"})
	return ts.URL, func() { ts.Close(); sim.Close() }
}

// call makes one management request as the bench user.
func call(url, method, path, body string) (int, []byte, error) {
	req := fasthttp.AcquireRequest()
	res := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	req.SetRequestURI(url + path)
	req.Header.SetMethod(method)
	req.Header.Set("X-User-ID", userID)
	if body != "" {
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
	}
	if err := fasthttp.DoTimeout(req, res, 30*time.Second); err != nil {
		return 0, nil, err
	}
	return res.StatusCode(), append([]byte(nil), res.Body()...), nil
}

func waitListening(addr string) error {
	for i := 0; i < 400; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s", addr)
}
