package e2e

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// probe GETs path, with the management secret when details is set.
func (h *hubProc) probe(path string, details bool) response {
	h.t.Helper()
	req := mustRequest(h.t, "GET", h.URL+path)
	if details {
		req.Header.Set("X-Internal-Secret", internalSecret)
	}
	return doRequest(h.t, req)
}

func failedChecks(r response) []string {
	var out []string
	list, _ := r.JSON["failed"].([]any)
	for _, f := range list {
		out = append(out, f.(string))
	}
	return out
}

func TestHealthEndpoints(t *testing.T) {
	h := startHub(t, startSim(t), hubOpts{backend: "sqlite"})
	tests := []struct {
		name, path string
		details    bool
		status     int
		body       string   // exact public body, when set
		keys       []string // top-level keys, when set
	}{
		{"livez", "/livez", false, 200, `{"status":"ok"}`, nil},
		{"livez with secret shows nothing more", "/livez", true, 200, `{"status":"ok"}`, nil},
		{"readyz public", "/readyz", false, 200, `{"status":"ok"}`, nil},
		{"readyz details", "/readyz", true, 200, "", []string{"checkedAt", "checks", "status"}},
		{"healthz public", "/healthz", false, 200, `{"database":"ok","status":"ok"}`, nil},
		{"healthz details", "/healthz", true, 200, "", []string{"checkedAt", "checks", "database", "plugins", "status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.probe(tt.path, tt.details)
			if r.Status != tt.status {
				t.Fatalf("%s = %d %s", tt.path, r.Status, r.Body)
			}
			if tt.body != "" && string(r.Body) != tt.body {
				t.Fatalf("%s = %s, want %s", tt.path, r.Body, tt.body)
			}
			if tt.keys != nil {
				var keys []string
				for k := range r.JSON {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				if !slices.Equal(keys, tt.keys) {
					t.Fatalf("%s keys = %v, want %v: %s", tt.path, keys, tt.keys, r.Body)
				}
			}
		})
	}
	r := h.probe("/readyz", true)
	checks := r.JSON["checks"].(map[string]any)
	for _, name := range []string{"database", "disk", "plugins", "queue"} {
		c, _ := checks[name].(map[string]any)
		if c["ok"] != true {
			t.Errorf("check %s = %v", name, c)
		}
	}
	if db := checks["database"].(map[string]any); db["driver"] != "sqlite" || db["latencyMs"] == nil {
		t.Errorf("database check = %v", db)
	}
	if disk := checks["disk"].(map[string]any); disk["freeBytes"] == nil || disk["path"] == "" {
		t.Errorf("disk check = %v", disk)
	}
	// Probes within HUB_READY_CACHE (1s) share one check: one write, not one per probe.
	first := h.probe("/readyz", true).JSON["checkedAt"]
	for range 20 {
		if again := h.probe("/readyz", true).JSON["checkedAt"]; again != first {
			if again == nil {
				t.Fatal("no checkedAt")
			}
			first = again // the cache expired between two probes: at most once more
			break
		}
	}
	for range 20 {
		if again := h.probe("/readyz", true).JSON["checkedAt"]; again != first {
			t.Fatalf("20 probes in well under a second ran the checks more than twice (%v, %v)", first, again)
		}
	}
}

// pgAdmin opens the test database's server as its owner.
func pgAdmin(t *testing.T, dbURL string) (*sql.DB, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, name
}

// setReadOnly makes the database read-only (or writable again) for new
// sessions and ends the current ones, as an operator failing over would.
func setReadOnly(t *testing.T, admin *sql.DB, name string, on bool) {
	t.Helper()
	if _, err := admin.Exec(fmt.Sprintf("ALTER DATABASE %s SET default_transaction_read_only = %t", name, on)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err != nil {
		t.Fatal(err)
	}
}

// TestReadOnlyPostgres: the hub's database turns read-only; webhooks get
// 503 with Retry-After (not 500), /readyz fails naming the database, the
// log says so once; made writable again, everything recovers without a
// restart and every accepted event is applied.
func TestReadOnlyPostgres(t *testing.T) {
	if !slices.Contains(backends(t), "postgres") {
		t.Skip("needs PostgreSQL")
	}
	sim := startSim(t)
	seedAccount(sim)
	h := startHub(t, sim, hubOpts{backend: "postgres"})
	connectWithSecret(t, h, whSecret)
	admin, name := pgAdmin(t, h.DBURL)
	now := time.Now().UTC()
	accepted := []string{}
	send := func(id string) response {
		r := h.webhook(alice.user, incidentBody("incident.triggered", id, now, nil), whSecret)
		if r.Status == 202 {
			accepted = append(accepted, id)
		}
		return r
	}
	if r := send("PRO0001"); r.Status != 202 {
		t.Fatalf("webhook before = %d %s", r.Status, r.Body)
	}

	setReadOnly(t, admin, name, true)
	var refused response
	for i := range 20 {
		r := send(fmt.Sprintf("PRO1%03d", i))
		if r.Status != 202 && r.Status != 503 {
			t.Fatalf("webhook while read-only = %d %s", r.Status, r.Body)
		}
		if r.Status == 503 {
			refused = r
		}
	}
	if refused.Status != 503 || refused.Header.Get("Retry-After") == "" || !strings.Contains(string(refused.Body), "read-only") {
		t.Fatalf("no 503 with Retry-After while read-only: %d %v %s", refused.Status, refused.Header, refused.Body)
	}
	var ready response
	waitFor(t, "/readyz to fail", 10*time.Second, func() bool {
		ready = h.probe("/readyz", true)
		return ready.Status == 503
	})
	if got := failedChecks(ready); !slices.Contains(got, "database") || ready.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz = %d %s", ready.Status, ready.Body)
	}
	if db := ready.JSON["checks"].(map[string]any)["database"].(map[string]any); db["reason"] != "read-only" {
		t.Fatalf("database check = %v", db)
	}
	if public := h.probe("/readyz", false); public.JSON["checks"] != nil || !slices.Contains(failedChecks(public), "database") {
		t.Fatalf("public readyz = %s", public.Body)
	}
	if r := h.probe("/healthz", false); r.Status != 503 || r.JSON["database"] != "read-only" {
		t.Fatalf("healthz = %d %s", r.Status, r.Body)
	}
	// Management writes answer the same; reads still work.
	if r := h.do(alice, "PUT", "/settings", map[string]any{"automatedRca": false}); r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("PUT /settings while read-only = %d %s", r.Status, r.Body)
	}
	if r := h.do(alice, "GET", "/incidents", nil); r.Status != 200 {
		t.Fatalf("GET /incidents while read-only = %d %s", r.Status, r.Body)
	}
	// Ending the sessions may show first as "unreachable", then as
	// "read-only", and each pooled session ended by the switch-over shows
	// as "unreachable" again when next used: one line per change of
	// state (no two lines in a row with the same reason), not one per
	// request.
	var reasons []string
	for _, l := range strings.Split(h.Logs(), "\n") {
		if !strings.Contains(l, "database unavailable") {
			continue
		}
		t.Logf("log: %.300s", l)
		var line struct{ Reason string }
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if len(reasons) > 0 && reasons[len(reasons)-1] == line.Reason {
			t.Errorf("the outage was logged twice in a row as %q, want once per change of state", line.Reason)
		}
		reasons = append(reasons, line.Reason)
	}
	if len(reasons) == 0 || len(reasons) > 8 {
		t.Errorf("the outage was logged %d times (%v), want once per change of state:\n%s", len(reasons), reasons, h.Logs())
	}

	setReadOnly(t, admin, name, false)
	waitFor(t, "/readyz to recover", 20*time.Second, func() bool { return h.probe("/readyz", false).Status == 200 })
	// A pooled session ended by the switch-over fails once more when next
	// used: 503 with Retry-After, so the sender retries, as PagerDuty does.
	waitFor(t, "a webhook to be accepted again", 10*time.Second, func() bool {
		r := send("PRO2001")
		if r.Status != 202 && (r.Status != 503 || r.Header.Get("Retry-After") == "") {
			t.Fatalf("webhook after = %d %s", r.Status, r.Body)
		}
		return r.Status == 202
	})
	if !logLine(h, "database available again") {
		t.Errorf("recovery not logged")
	}
	for _, id := range accepted {
		h.incidentBySource(alice, id, func(map[string]any) bool { return true })
	}
}

// mountTmpfs mounts a tmpfs of size at a new directory, or skips.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root and mount permission): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling: %v", err)
			}
			return
		}
	}
}

// TestFullSQLiteVolume: the volume holding the SQLite database fills up;
// webhooks get 503 with Retry-After, /readyz fails; once space is freed the
// hub recovers without a restart and nothing accepted is lost.
func TestFullSQLiteVolume(t *testing.T) {
	vol := mountTmpfs(t, "48m")
	sim := startSim(t)
	seedAccount(sim)
	h := startHub(t, sim, hubOpts{backend: "sqlite", dbURL: "sqlite://" + filepath.Join(vol, "hub.db"),
		env: map[string]string{"HUB_READY_MIN_FREE_DISK": "2MiB", "HUB_SQLITE_WAL_LIMIT": "8MiB"}})
	connectWithSecret(t, h, whSecret)
	now := time.Now().UTC()
	var accepted []string
	send := func(id string) response {
		r := h.webhook(alice.user, incidentBody("incident.triggered", id, now, nil), whSecret)
		if r.Status == 202 {
			accepted = append(accepted, id)
		}
		return r
	}
	if r := send("PFULL0000"); r.Status != 202 {
		t.Fatalf("webhook before = %d %s", r.Status, r.Body)
	}

	fill(t, filepath.Join(vol, "filler"))
	var refused response
	for i := 0; i < 400 && refused.Status == 0; i++ {
		r := send(fmt.Sprintf("PFULL1%03d", i))
		switch r.Status {
		case 202:
		case 503:
			refused = r
		default:
			t.Fatalf("webhook on a full disk = %d %s", r.Status, r.Body)
		}
	}
	if refused.Status != 503 || refused.Header.Get("Retry-After") == "" || !strings.Contains(string(refused.Body), "full") {
		t.Fatalf("no 503 with Retry-After on a full disk: %d %s", refused.Status, refused.Body)
	}
	waitFor(t, "/readyz to fail", 10*time.Second, func() bool { return h.probe("/readyz", false).Status == 503 })
	ready := h.probe("/readyz", true)
	if got := failedChecks(ready); !slices.Contains(got, "disk") {
		t.Fatalf("readyz = %d %s", ready.Status, ready.Body)
	}
	t.Logf("readyz on a full volume: %s", ready.Body)

	if err := os.Remove(filepath.Join(vol, "filler")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/readyz to recover", 20*time.Second, func() bool { return h.probe("/readyz", false).Status == 200 })
	if r := send("PFULL2000"); r.Status != 202 {
		t.Fatalf("webhook after = %d %s", r.Status, r.Body)
	}
	for _, id := range accepted {
		h.incidentBySource(alice, id, func(map[string]any) bool { return true })
	}
	t.Logf("%d webhooks accepted and applied around the outage", len(accepted))
}

// TestDamagedSQLiteRefusedAtStart: a database file with damaged pages stops
// the hub at start with a message saying so, instead of a hub that answers
// every webhook 500.
func TestDamagedSQLiteRefusedAtStart(t *testing.T) {
	sim := startSim(t)
	seedAccount(sim)
	h := startHub(t, sim, hubOpts{backend: "sqlite"})
	connectWithSecret(t, h, whSecret)
	h.stop()
	path := filepath.Join(h.DataDir, "hub.db")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
	for off := int64(4096); off < fi.Size(); off += 2 * 4096 {
		f.WriteAt(junk, off)
	}
	f.Close()

	env := map[string]string{}
	for k, v := range h.Env {
		env[k] = v
	}
	out, code := runHubCommand(t, env, "serve")
	if code == 0 || !strings.Contains(out, "is damaged") || !strings.Contains(out, path) {
		t.Fatalf("serve on a damaged database: exit %d\n%s", code, out)
	}
	t.Logf("refusal: %s", lastLine(out))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestRestartedSQLiteHubResumesItsJobs: a SQLite hub killed during an
// analysis runs it again as soon as it is back, not after
// HUB_JOB_RESCUE_AFTER (5 minutes by default): it is the job's only
// possible owner.
func TestRestartedSQLiteHubResumesItsJobs(t *testing.T) {
	llm := startLLM(t)
	llm.delay.Store(int64(time.Hour))
	sim := startSim(t)
	now := time.Now().UTC()
	inc := pipelineAccount(sim, now)
	env := map[string]string{
		"HUB_RCA_DELAY": "0s", "HUB_RCA_ANALYZER": "llm", "HUB_LLM_BASE_URL": llm.URL + "/v1",
		"HUB_LLM_MODEL": "test-model", "HUB_LLM_TIMEOUT": "5m",
	}
	h := startHub(t, sim, hubOpts{backend: "sqlite", env: env})
	connectWithSecret(t, h, whSecret)
	h.webhook(alice.user, triggerBody(inc, "PSVC001", "payments-api", now), whSecret)
	waitFor(t, "the analysis to reach the LLM", 20*time.Second, func() bool { return llm.calls.Load() >= 1 })
	h.kill()

	llm.delay.Store(0)
	env["HUB_ENCRYPTION_KEY"] = h.Env["HUB_ENCRYPTION_KEY"]
	restarted := time.Now()
	h2 := startHub(t, sim, hubOpts{backend: "sqlite", env: env, dbURL: h.DBURL, dataDir: h.DataDir})
	h2.incidentBySourceWithin(alice, inc.ID, 30*time.Second, func(m map[string]any) bool { return m["auroraStatus"] == "complete" })
	t.Logf("analysis finished %s after the restart (HUB_JOB_RESCUE_AFTER is 5m)", time.Since(restarted).Round(100*time.Millisecond))
	if n := llm.calls.Load(); n != 2 {
		t.Errorf("LLM called %d times, want 2 (the killed attempt and the resumed one)", n)
	}
	if !logLine(h2, "resumed jobs left running by the previous process") {
		t.Errorf("resume not logged")
	}
}

// TestKilledReplicaJobsFinishElsewhere: two replicas on one PostgreSQL; the
// one running an analysis is SIGKILLed; the other runs it within 60 s
// (HUB_REPLICA_TIMEOUT 30 s plus a sweep), not after HUB_JOB_RESCUE_AFTER.
func TestKilledReplicaJobsFinishElsewhere(t *testing.T) {
	if !slices.Contains(backends(t), "postgres") {
		t.Skip("needs PostgreSQL")
	}
	llm := startLLM(t)
	llm.delay.Store(int64(time.Hour))
	sim := startSim(t)
	now := time.Now().UTC()
	inc := pipelineAccount(sim, now)
	env := map[string]string{
		"HUB_RCA_DELAY": "0s", "HUB_RCA_ANALYZER": "llm", "HUB_LLM_BASE_URL": llm.URL + "/v1",
		"HUB_LLM_MODEL": "test-model", "HUB_LLM_TIMEOUT": "5m",
	}
	a := startHub(t, sim, hubOpts{backend: "postgres", env: env})
	connectWithSecret(t, a, whSecret)
	a.webhook(alice.user, triggerBody(inc, "PSVC001", "payments-api", now), whSecret)
	waitFor(t, "the analysis to reach the LLM", 20*time.Second, func() bool { return llm.calls.Load() >= 1 })

	env["HUB_ENCRYPTION_KEY"] = a.Env["HUB_ENCRYPTION_KEY"]
	b := startHub(t, sim, hubOpts{backend: "postgres", env: env, dbURL: a.DBURL})
	llm.delay.Store(0)
	a.kill()
	killed := time.Now()
	b.incidentBySourceWithin(alice, inc.ID, 60*time.Second, func(m map[string]any) bool { return m["auroraStatus"] == "complete" })
	t.Logf("analysis finished on the other replica %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	if n := llm.calls.Load(); n != 2 {
		t.Errorf("LLM called %d times, want 2", n)
	}
	if !logLine(b, "ran again the jobs of replicas that stopped heartbeating") {
		t.Errorf("rescue not logged by the surviving replica")
	}
}
