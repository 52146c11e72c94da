package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/app"
	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/pipeline"
	"github.com/aurora-hub/aurora-hub/hub/store/storetest"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

const opsSecret = "ops-secret"

// opsCall sends a request to the hub's API with the secret (when
// withSecret) and no user id; it returns the status and the body.
func opsCall(t *testing.T, a *app.App, method, path string, withSecret bool) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if withSecret {
		req.Header.Set("X-Internal-Secret", opsSecret)
	}
	resp, err := a.API.App().Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOperatorRoutes: a discarded job shows in the operators' dead letters
// and status (secret, no user id) and is retried over HTTP; /metrics counts it.
func TestOperatorRoutes(t *testing.T) {
	for _, backend := range storetest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			dbURL := "sqlite://" + filepath.Join(t.TempDir(), "hub.db")
			if backend == "postgres" {
				dbURL = storetest.PostgresURL(t)
			}
			key := make([]byte, 32)
			rand.Read(key)
			cfg, err := config.FromEnv(map[string]string{"HUB_DATABASE_URL": dbURL, "INTERNAL_API_SECRET": opsSecret,
				"HUB_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(key)})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			a, err := app.New(ctx, cfg, app.Options{SkipPluginDir: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close(context.Background()) })

			for _, r := range []struct{ method, path string }{
				{"GET", "/metrics"}, {"GET", "/pipeline/status"}, {"GET", "/pipeline/dead-letters/events"}, {"GET", "/pipeline/dead-letters/jobs"},
				{"POST", "/pipeline/dead-letters/retry"}, {"POST", "/pipeline/dead-letters/jobs/1/retry"}, {"POST", "/pipeline/dead-letters/events/1/retry"},
			} {
				if code, body := opsCall(t, a, r.method, r.path, false); code != http.StatusForbidden {
					t.Errorf("%s %s without the secret = %d %s", r.method, r.path, code, body)
				}
			}

			ins, err := a.Jobs.Insert(ctx, pipeline.ProcessIncidentArgs{IncidentID: "no-such-incident"}, &river.InsertOpts{MaxAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			id := ins.Job.ID
			job := func() *rivertype.JobRow {
				j, err := a.Jobs.JobGet(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return j
			}
			waitUntil(t, "the job to be discarded", func() bool { return job().State == rivertype.JobStateDiscarded })

			code, body := opsCall(t, a, "GET", "/pipeline/dead-letters/jobs", true)
			var dead struct {
				Jobs []struct {
					ID          int64           `json:"id"`
					Kind        string          `json:"kind"`
					Args        json.RawMessage `json:"args"`
					LastError   string          `json:"lastError"`
					DiscardedAt *time.Time      `json:"discardedAt"`
				} `json:"jobs"`
			}
			if err := json.Unmarshal([]byte(body), &dead); code != 200 || err != nil || len(dead.Jobs) != 1 {
				t.Fatalf("GET dead jobs = %d %s", code, body)
			}
			if d := dead.Jobs[0]; d.ID != id || d.Kind != "process_incident" || !strings.Contains(string(d.Args), "no-such-incident") || d.LastError == "" || d.DiscardedAt == nil {
				t.Errorf("dead job = %+v", d)
			}
			// (The start-up apply job may still be running: the list is not asserted empty.)
			code, body = opsCall(t, a, "GET", "/pipeline/status", true)
			if code != 200 || !strings.Contains(body, `{"kind":"process_incident","state":"discarded","count":1,`) || !strings.Contains(body, `"running":[`) {
				t.Errorf("GET /pipeline/status = %d %s", code, body)
			}
			for path, want := range map[string]int{
				"/pipeline/dead-letters/jobs/abc/retry":                    400,
				fmt.Sprintf("/pipeline/dead-letters/jobs/%d/retry", id+99): 404,
				"/pipeline/dead-letters/events/12345/retry":                404,
			} {
				if code, body := opsCall(t, a, "POST", path, true); code != want {
					t.Errorf("POST %s = %d %s, want %d", path, code, body, want)
				}
			}
			if code, body := opsCall(t, a, "GET", "/pipeline/dead-letters/jobs?limit=0", true); code != 400 {
				t.Errorf("limit=0 = %d %s", code, body)
			}
			if code, body := opsCall(t, a, "POST", fmt.Sprintf("/pipeline/dead-letters/jobs/%d/retry", id), true); code != 202 || body != `{"retried":{"events":0,"jobs":1}}` {
				t.Fatalf("POST retry = %d %s", code, body)
			}
			waitUntil(t, "the retried job's second attempt", func() bool {
				j := job()
				return j.Attempt == 2 && j.State == rivertype.JobStateDiscarded
			})
			if code, body := opsCall(t, a, "POST", "/pipeline/dead-letters/retry", true); code != 202 || body != `{"retried":{"events":0,"jobs":1}}` {
				t.Fatalf("POST retry all = %d %s", code, body)
			}
			waitUntil(t, "the third attempt", func() bool { return job().Attempt == 3 && job().State == rivertype.JobStateDiscarded })

			code, body = opsCall(t, a, "GET", "/metrics", true)
			for _, want := range []string{`aurora_pipeline_dead_letters_retried_total{type="job"} 2`, `aurora_jobs{kind="process_incident",state="discarded"} `} {
				if code != 200 || !strings.Contains(body, want) {
					t.Errorf("/metrics = %d, lacks %q", code, want)
				}
			}
		})
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
