package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/cmd/internal/hubproc"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// binDir holds the binaries built once for the whole package.
var binDir string

const internalSecret = "e2e-internal-secret"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aurora-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := func() int {
		defer os.RemoveAll(dir)
		for pkg, out := range map[string]string{
			"github.com/aurora-hub/aurora-hub/cmd/aurora-hub":                                "aurora-hub",
			"github.com/aurora-hub/aurora-hub/plugins/pagerduty/cmd/aurora-plugin-pagerduty": "plugins/aurora-plugin-pagerduty",
			// Test plugins, outside the default plugin directory: tests
			// install them under the names they need (plugins_test.go).
			"github.com/aurora-hub/aurora-hub/cmd/e2e/testplugins/flaky":                           "testplugins/flaky",
			"github.com/aurora-hub/aurora-hub/plugins/alertmanager/cmd/aurora-plugin-alertmanager": "extra/aurora-plugin-alertmanager",
			"github.com/aurora-hub/aurora-hub/cmd/e2e/testplugins/raw":                             "testplugins/raw",
			"github.com/aurora-hub/aurora-hub/plugins/grafana/cmd/aurora-plugin-grafana":           "extra/aurora-plugin-grafana",
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "building", pkg, ":", err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// backends are the databases every end-to-end test runs on.
func backends(t *testing.T) []string { return storetest.Backends(t) }

func freePort(t *testing.T) string {
	t.Helper()
	addr, err := hubproc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// lockedBuffer collects a process's output safely.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// hubProc is a running aurora-hub process.
type hubProc struct {
	*hubproc.Process
	t       *testing.T
	URL     string
	DataDir string
	DBURL   string
	Env     map[string]string
	logs    *lockedBuffer
}

type hubOpts struct {
	backend string
	env     map[string]string
	// dbURL reuses a database (e.g. to restart on the same data).
	dbURL   string
	dataDir string
}

// startHub runs aurora-hub with the real plugin against sim and waits until
// /healthz answers 200.
func startHub(t *testing.T, sim *simServer, o hubOpts) *hubProc {
	t.Helper()
	h := &hubProc{t: t, DataDir: o.dataDir, DBURL: o.dbURL, logs: &lockedBuffer{}}
	if h.DataDir == "" {
		h.DataDir = t.TempDir()
	}
	if h.DBURL == "" {
		switch o.backend {
		case "postgres":
			h.DBURL = storetest.PostgresURL(t)
		default:
			h.DBURL = "sqlite://" + filepath.Join(h.DataDir, "hub.db")
		}
	}
	addr := freePort(t)
	key := make([]byte, 32)
	rand.Read(key)
	h.Env = map[string]string{
		"HUB_LISTEN":          addr,
		"HUB_DATABASE_URL":    h.DBURL,
		"HUB_PLUGIN_DIR":      filepath.Join(binDir, "plugins"),
		"HUB_ENCRYPTION_KEY":  base64.StdEncoding.EncodeToString(key),
		"INTERNAL_API_SECRET": internalSecret,
		"HUB_LOG_LEVEL":       "debug",
		"PATH":                os.Getenv("PATH"),
	}
	if sim != nil {
		h.Env["PAGERDUTY_API_URL"] = sim.URL
		h.Env["PAGERDUTY_OAUTH_URL"] = sim.URL
	}
	for k, v := range o.env {
		h.Env[k] = v
	}
	h.URL = "http://" + h.Env["HUB_LISTEN"]
	h.start()
	return h
}

func (h *hubProc) start() {
	t := h.t
	t.Helper()
	p, err := hubproc.Start(context.Background(), hubproc.Options{Bin: filepath.Join(binDir, "aurora-hub"), Dir: h.DataDir, Env: h.Env, Output: h.logs})
	if err != nil {
		t.Fatalf("%v:\n%s", err, h.logs.String())
	}
	h.Process = p
	t.Cleanup(h.stop)
}

// stop ends the hub with SIGTERM (SIGKILL after 10 s).
func (h *hubProc) stop() { h.Stop(10 * time.Second) }

// kill ends the hub with SIGKILL, as a crash would.
func (h *hubProc) kill() { h.Kill() }

// Logs is everything the hub and its plugins wrote.
func (h *hubProc) Logs() string { return h.logs.String() }

// caller is who a management request acts as.
type caller struct {
	user, org string
	secret    *string // nil: the right secret
}

var alice = caller{user: "user-alice"}

type response struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

// do sends a request as c; body is JSON-encoded unless it is []byte or string.
func (h *hubProc) do(c caller, method, path string, body any) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.user != "" {
		req.Header.Set("X-User-ID", c.user)
	}
	if c.org != "" {
		req.Header.Set("X-Org-ID", c.org)
	}
	if c.secret == nil {
		req.Header.Set("X-Internal-Secret", internalSecret)
	} else if *c.secret != "" {
		req.Header.Set("X-Internal-Secret", *c.secret)
	}
	return doRequest(h.t, req)
}

func doRequest(t *testing.T, req *http.Request) response {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := response{Status: res.StatusCode, Header: res.Header, Body: b}
	_ = json.Unmarshal(b, &r.JSON)
	return r
}

// simServer is the PagerDuty simulator on a real HTTP port.
type simServer struct {
	*pdsim.Sim
	URL string
}

func startSim(t *testing.T) *simServer {
	t.Helper()
	sim := pdsim.New(pdsim.Options{Subdomain: "acme", WebhookRetryDelay: 100 * time.Millisecond})
	ts := httptest.NewServer(sim)
	sim.SetBaseURL(ts.URL)
	t.Cleanup(func() { ts.Close(); sim.Close() })
	return &simServer{Sim: sim, URL: ts.URL}
}

// pluginPIDs lists the plugin processes whose parent is the hub.
func (h *hubProc) pluginPIDs() []int {
	return childProcesses(h.Pid(), "aurora-plugin-")
}

func childProcesses(parent int, namePrefix string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		rp := strings.LastIndexByte(s, ')')
		if rp < 0 {
			continue
		}
		comm := s[strings.IndexByte(s, '(')+1 : rp]
		fields := strings.Fields(s[rp+1:])
		if len(fields) < 2 || fields[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		if (parent == 0 || ppid == parent) && strings.HasPrefix(comm, namePrefix[:min(len(namePrefix), 15)]) {
			out = append(out, pid)
		}
	}
	return out
}

func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	rp := strings.LastIndexByte(s, ')')
	return rp > 0 && !strings.HasPrefix(strings.TrimSpace(s[rp+1:]), "Z")
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
