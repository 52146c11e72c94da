package e2e

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

const (
	adminToken    = "u+e2eAdminToken000001"
	readerToken   = "u+e2eReadOnlyUser0002"
	accountRW     = "e2eAccountWritable003"
	accountRO     = "e2eAccountReadOnly004"
	observerToken = "u+e2eObserverToken005"
)

// seedAccount gives the simulator users of several roles and their keys.
func seedAccount(sim *simServer) {
	sim.AddUser(pdsim.User{ID: "PADMIN1", Name: "John Doe", Email: "john@example.com", Role: "admin"})
	sim.AddUser(pdsim.User{ID: "PREAD01", Name: "Rita Reader", Email: "rita@example.com", Role: "read_only_user"})
	sim.AddUser(pdsim.User{ID: "POBS001", Name: "Otto Observer", Email: "otto@example.com", Role: "observer"})
	sim.AddAPIKey(pdsim.APIKey{Token: adminToken, UserID: "PADMIN1"})
	sim.AddAPIKey(pdsim.APIKey{Token: readerToken, UserID: "PREAD01"})
	sim.AddAPIKey(pdsim.APIKey{Token: observerToken, UserID: "POBS001"})
	sim.AddAPIKey(pdsim.APIKey{Token: accountRW})
	sim.AddAPIKey(pdsim.APIKey{Token: accountRO, ReadOnly: true})
	sim.AddService(pdsim.Service{ID: "PSVC001", Name: "payments-api"})
}

func forEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

func TestHealthzListsPlugin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		h := startHub(t, sim, hubOpts{backend: backend})
		// Public: status and database only, no plugin versions or errors.
		res := doRequest(t, mustRequest(t, "GET", h.URL+"/healthz"))
		if res.Status != 200 || string(res.Body) != `{"database":"ok","status":"ok"}` {
			t.Fatalf("public healthz = %d %s", res.Status, res.Body)
		}
		req := mustRequest(t, "GET", h.URL+"/healthz")
		req.Header.Set("X-Internal-Secret", internalSecret)
		res = doRequest(t, req)
		if res.Status != 200 || res.JSON["status"] != "ok" {
			t.Fatalf("healthz = %d %s", res.Status, res.Body)
		}
		plugins, _ := res.JSON["plugins"].([]any)
		if len(plugins) != 1 {
			t.Fatalf("plugins = %v", res.JSON["plugins"])
		}
		p := plugins[0].(map[string]any)
		if p["name"] != "pagerduty" || p["state"] != "running" || p["protocolVersion"] != float64(1) || p["version"] == "" {
			t.Fatalf("plugin health = %v", p)
		}
	})
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestManagementAuthentication(t *testing.T) {
	sim := startSim(t)
	h := startHub(t, sim, hubOpts{backend: "sqlite"})
	wrong, none := "nope", ""
	tests := []struct {
		name   string
		c      caller
		path   string
		status int
		body   string
	}{
		{"missing secret", caller{user: "u1", secret: &none}, "/pagerduty", 403, `{"error":"Forbidden: invalid or missing X-Internal-Secret header"}`},
		{"wrong secret", caller{user: "u1", secret: &wrong}, "/pagerduty", 403, `{"error":"Forbidden: invalid or missing X-Internal-Secret header"}`},
		{"missing user", caller{}, "/pagerduty", 401, `{"error":"Unauthorized"}`},
		{"unknown provider", alice, "/opsgenie", 404, `{"error":"Unknown provider: opsgenie"}`},
		{"not connected", alice, "/pagerduty", 200, `{"connected":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.do(tt.c, "GET", tt.path, nil)
			if res.Status != tt.status || string(res.Body) != tt.body {
				t.Fatalf("got %d %s, want %d %s", res.Status, res.Body, tt.status, tt.body)
			}
		})
	}
}

func TestConnectWithToken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		seedAccount(sim)
		h := startHub(t, sim, hubOpts{backend: backend})

		tests := []struct {
			name      string
			token     string
			email     any
			userName  any
			canWrite  bool
			displayIn string
			display   string
		}{
			{"admin user key", adminToken, "john@example.com", "John Doe", true, "Ops PagerDuty", "Ops PagerDuty"},
			{"read-only user key", readerToken, "rita@example.com", "Rita Reader", false, "", "PagerDuty"},
			{"observer user key", observerToken, "otto@example.com", "Otto Observer", false, "", "PagerDuty"},
			{"account key, writable", accountRW, nil, nil, true, "", "PagerDuty"},
			{"account key, read-only", accountRO, nil, nil, false, "", "PagerDuty"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := caller{user: "user-" + strings.ReplaceAll(tt.name, " ", "-")}
				body := map[string]any{"token": "  " + tt.token + "\n"}
				if tt.displayIn != "" {
					body["displayName"] = tt.displayIn
				}
				res := h.do(c, "POST", "/pagerduty", body)
				if res.Status != 200 {
					t.Fatalf("POST = %d %s", res.Status, res.Body)
				}
				want := map[string]any{
					"success": true, "connected": true, "displayName": tt.display, "authType": "api_token",
					"externalUserEmail": tt.email, "externalUserName": tt.userName, "accountSubdomain": "acme",
				}
				for k, v := range want {
					if res.JSON[k] != v {
						t.Errorf("POST %s = %#v, want %#v", k, res.JSON[k], v)
					}
				}
				caps, _ := res.JSON["capabilities"].(map[string]any)
				if caps["can_read_incidents"] != true || caps["can_write_incidents"] != tt.canWrite {
					t.Errorf("capabilities = %v, want read true write %v", caps, tt.canWrite)
				}
				if _, err := time.Parse(time.RFC3339, res.JSON["validatedAt"].(string)); err != nil {
					t.Errorf("validatedAt %v: %v", res.JSON["validatedAt"], err)
				}
				// GET answers the same fields (it may add more, e.g. the webhook's state).
				get := h.do(c, "GET", "/pagerduty", nil)
				delete(res.JSON, "success")
				for k, v := range res.JSON {
					if get.Status != 200 || !valueEqual(get.JSON[k], v) {
						t.Fatalf("GET = %d %s, want %s = %v", get.Status, get.Body, k, v)
					}
				}
			})
		}
		// The write probes must never have created anything in the account.
		for _, r := range sim.Requests() {
			if r.Method != "GET" && r.Status < 300 {
				t.Errorf("a probe changed the account: %s %s -> %d", r.Method, r.Path, r.Status)
			}
		}
		if n := len(sim.Incidents()); n != 0 {
			t.Errorf("the account has %d incidents after connecting, want 0", n)
		}
	})
}

func jsonEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !valueEqual(v, b[k]) {
			return false
		}
	}
	return true
}

func valueEqual(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		return jsonEqual(am, bm)
	}
	return a == b
}

func TestValidationFailuresKeepExistingConnection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		seedAccount(sim)
		h := startHub(t, sim, hubOpts{backend: backend})
		if res := h.do(alice, "POST", "/pagerduty", map[string]any{"token": adminToken, "displayName": "Mine"}); res.Status != 200 {
			t.Fatalf("connect = %d %s", res.Status, res.Body)
		}
		before := h.do(alice, "GET", "/pagerduty", nil)

		rl := http.Header{}
		rl.Set("ratelimit-limit", "960")
		rl.Set("ratelimit-remaining", "0")
		rl.Set("ratelimit-reset", "17")
		tests := []struct {
			name   string
			fault  *pdsim.Fault
			token  any
			status int
			body   string
		}{
			{"unknown token", nil, "u+doesnotexist", 401, `{"error":"Unauthorized: Invalid or expired API token"}`},
			{"401 not JSON", &pdsim.Fault{Status: 401, Body: "<html><body>Unauthorized</body></html>"}, adminToken, 401, `{"error":"Unauthorized: Invalid or expired API token"}`},
			{"400 malformed", &pdsim.Fault{Status: 400, Body: `{"error":{"message":"Invalid Input Provided","code":2001,"errors":"token malformed"}}`}, adminToken, 400, `{"error":"Invalid token format"}`},
			{"403", &pdsim.Fault{Status: 403, Body: `{"error":{"message":"Access Denied","code":2010}}`}, adminToken, 403, `{"error":"Token lacks required permissions"}`},
			{"429 with headers", &pdsim.Fault{Status: 429, Header: rl, Body: `{"error":{"message":"Rate Limit Exceeded","code":2020}}`}, adminToken, 429, `{"error":"Rate limited by PagerDuty"}`},
			{"429 bare", &pdsim.Fault{Status: 429}, adminToken, 429, `{"error":"Rate limited by PagerDuty"}`},
			{"500", &pdsim.Fault{Status: 500, Body: `{"error":["boom"]}`}, adminToken, 502, `{"error":"PagerDuty API request failed"}`},
			{"503 html", &pdsim.Fault{Status: 503, Body: "<h1>down</h1>"}, adminToken, 502, `{"error":"PagerDuty API request failed"}`},
			{"missing token", nil, nil, 400, `{"error":"Token required"}`},
			{"token not a string", nil, 42, 400, `{"error":"Token required"}`},
			{"blank token", nil, "   ", 400, `{"error":"Token required"}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				sim.ClearFaults()
				if tt.fault != nil {
					f := *tt.fault
					f.Method, f.Path, f.Times = "GET", "/users/me", 1
					sim.InjectFault(f)
				}
				body := map[string]any{}
				if tt.token != nil {
					body["token"] = tt.token
				}
				for _, method := range []string{"POST", "PATCH"} {
					if tt.fault != nil {
						f := *tt.fault
						f.Method, f.Path, f.Times = "GET", "/users/me", 1
						sim.ClearFaults()
						sim.InjectFault(f)
					}
					res := h.do(alice, method, "/pagerduty", body)
					if res.Status != tt.status || string(res.Body) != tt.body {
						t.Fatalf("%s = %d %s, want %d %s", method, res.Status, res.Body, tt.status, tt.body)
					}
					if tt.status == 429 && tt.fault.Header != nil && res.Header.Get("Retry-After") != "17" {
						t.Errorf("Retry-After = %q, want 17", res.Header.Get("Retry-After"))
					}
					after := h.do(alice, "GET", "/pagerduty", nil)
					if string(after.Body) != string(before.Body) {
						t.Fatalf("connection changed by a failed %s:\n%s\nwas\n%s", method, after.Body, before.Body)
					}
				}
			})
		}
		sim.ClearFaults()
		if res := h.do(alice, "POST", "/pagerduty", `{"token":`); res.Status != 400 || string(res.Body) != `{"error":"Token required"}` {
			t.Fatalf("broken JSON = %d %s", res.Status, res.Body)
		}
	})
}

func TestUnreachablePagerDuty(t *testing.T) {
	h := startHub(t, nil, hubOpts{backend: "sqlite", env: map[string]string{"PAGERDUTY_API_URL": "http://" + freePort(t)}})
	res := h.do(alice, "POST", "/pagerduty", map[string]any{"token": adminToken})
	if res.Status != 502 || string(res.Body) != `{"error":"PagerDuty API request failed"}` {
		t.Fatalf("POST = %d %s", res.Status, res.Body)
	}
}

func TestRotateAndDisconnect(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		seedAccount(sim)
		h := startHub(t, sim, hubOpts{backend: backend})
		bob := caller{user: "user-bob"}
		if res := h.do(bob, "PATCH", "/pagerduty", map[string]any{"token": adminToken}); res.Status != 404 || string(res.Body) != `{"error":"Not connected"}` {
			t.Fatalf("PATCH unconnected = %d %s", res.Status, res.Body)
		}
		if res := h.do(bob, "POST", "/pagerduty", map[string]any{"token": readerToken, "displayName": "Bob's PD"}); res.Status != 200 {
			t.Fatalf("POST = %d %s", res.Status, res.Body)
		}
		res := h.do(bob, "PATCH", "/pagerduty", map[string]any{"token": adminToken})
		if res.Status != 200 || res.JSON["success"] != true || res.JSON["displayName"] != "Bob's PD" || res.JSON["externalUserEmail"] != "john@example.com" {
			t.Fatalf("PATCH = %d %s", res.Status, res.Body)
		}
		for i := 0; i < 2; i++ { // disconnecting twice is not an error
			if res := h.do(bob, "DELETE", "/pagerduty", nil); res.Status != 200 || string(res.Body) != `{"success":true}` {
				t.Fatalf("DELETE = %d %s", res.Status, res.Body)
			}
		}
		if res := h.do(bob, "GET", "/pagerduty", nil); string(res.Body) != `{"connected":false}` {
			t.Fatalf("GET after DELETE = %s", res.Body)
		}
	})
}

func TestOrganisationSharesConnection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		seedAccount(sim)
		h := startHub(t, sim, hubOpts{backend: backend})
		ann := caller{user: "user-ann", org: "org-1"}
		ben := caller{user: "user-ben", org: "org-1"}
		eve := caller{user: "user-eve", org: "org-2"}
		if res := h.do(ann, "POST", "/pagerduty", map[string]any{"token": adminToken}); res.Status != 200 {
			t.Fatalf("POST = %d %s", res.Status, res.Body)
		}
		if res := h.do(ben, "GET", "/pagerduty", nil); res.JSON["connected"] != true {
			t.Fatalf("org member sees %s", res.Body)
		}
		for _, c := range []caller{eve, {user: "user-ann"}} {
			if res := h.do(c, "GET", "/pagerduty", nil); string(res.Body) != `{"connected":false}` {
				t.Fatalf("%+v sees %s", c, res.Body)
			}
		}
	})
}

func TestWebhookURL(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"public backend", map[string]string{"NEXT_PUBLIC_BACKEND_URL": "https://hub.example.com/", "NGROK_URL": "https://x.ngrok.app"}, "https://hub.example.com/pagerduty/webhook/user-alice"},
		{"localhost backend uses ngrok", map[string]string{"NEXT_PUBLIC_BACKEND_URL": "http://localhost:5080", "NGROK_URL": "https://x.ngrok.app/"}, "https://x.ngrok.app/pagerduty/webhook/user-alice"},
		{"no backend uses ngrok", map[string]string{"NGROK_URL": "https://y.ngrok.app"}, "https://y.ngrok.app/pagerduty/webhook/user-alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHub(t, nil, hubOpts{backend: "sqlite", env: tt.env})
			res := h.do(alice, "GET", "/pagerduty/webhook-url", nil)
			if res.Status != 200 || res.JSON["webhookUrl"] != tt.want {
				t.Fatalf("= %d %s, want %s", res.Status, res.Body, tt.want)
			}
			text := string(res.Body)
			for _, s := range []string{"Integrations > Generic Webhooks (v3) > New Webhook", "incident.triggered", "incident.acknowledged", "incident.resolved", "incident.custom_field_values.updated"} {
				if !strings.Contains(text, s) {
					t.Errorf("instructions lack %q", s)
				}
			}
		})
	}
}

// TestSecretsStayOutOfDiskAndLogs connects on SQLite and searches the whole
// data directory (database, WAL) and the logs for the token.
func TestSecretsStayOutOfDiskAndLogs(t *testing.T) {
	sim := startSim(t)
	seedAccount(sim)
	h := startHub(t, sim, hubOpts{backend: "sqlite"})
	for _, c := range []caller{alice, {user: "user-2"}} {
		if res := h.do(c, "POST", "/pagerduty", map[string]any{"token": adminToken}); res.Status != 200 {
			t.Fatalf("POST = %d %s", res.Status, res.Body)
		}
	}
	h.do(alice, "POST", "/pagerduty", map[string]any{"token": "u+wrongtokenvalue99"})
	h.stop()
	secretsToFind := []string{adminToken, "u+wrongtokenvalue99", h.Env["HUB_ENCRYPTION_KEY"], internalSecret}
	filepath.Walk(h.DataDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(path)
		for _, s := range secretsToFind[:2] {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s contains a plaintext token", filepath.Base(path))
			}
		}
		return nil
	})
	logs := h.Logs()
	for _, s := range secretsToFind {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain a secret %q…", s[:4])
		}
	}
}

// TestPluginProcessLifecycle: the plugin is its own process with only its
// declared environment, and killing the hub leaves no plugin behind.
func TestPluginProcessLifecycle(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			sim := startSim(t)
			h := startHub(t, sim, hubOpts{backend: "sqlite"})
			pids := h.pluginPIDs()
			if len(pids) != 1 {
				t.Fatalf("plugin processes = %v, want one", pids)
			}
			env, err := os.ReadFile("/proc/" + itoa(pids[0]) + "/environ")
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"HUB_DATABASE_URL", "HUB_ENCRYPTION_KEY", "INTERNAL_API_SECRET", "PATH="} {
				if bytes.Contains(env, []byte(k)) {
					t.Errorf("plugin environment contains %s", k)
				}
			}
			if !bytes.Contains(env, []byte("PAGERDUTY_API_URL="+sim.URL)) {
				t.Errorf("plugin environment lacks its declared PAGERDUTY_API_URL")
			}
			// Half the hub's processors (the hub runs on this machine, as
			// this test does).
			if procs := "GOMAXPROCS=" + itoa((runtime.GOMAXPROCS(0)+1)/2); !bytes.Contains(env, []byte(procs+"\x00")) {
				t.Errorf("plugin environment lacks %s: %q", procs, env)
			}
			h.Signal(sig)
			<-h.Done()
			waitFor(t, "plugin process to exit", 5*time.Second, func() bool { return !processAlive(pids[0]) })
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
