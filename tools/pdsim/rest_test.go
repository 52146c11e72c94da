package pdsim

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestUsersMe(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.AddUser(User{ID: "PUSER01", Name: "John Doe", Email: "john@example.com", Role: "admin"})
	e.sim.AddAPIKey(APIKey{Token: "u+tok", UserID: "PUSER01"})
	e.sim.AddAPIKey(APIKey{Token: "acct-tok", ReadOnly: true})
	tests := []struct {
		name   string
		auth   string
		status int
		check  func(t *testing.T, r result)
	}{
		{"user key", "u+tok", 200, func(t *testing.T, r result) {
			u := r.json(t)["user"].(map[string]any)
			want := map[string]any{
				"id": "PUSER01", "type": "user", "name": "John Doe", "email": "john@example.com", "role": "admin",
				"html_url": "https://acme.pagerduty.com/users/PUSER01", "summary": "John Doe",
				"self": e.srv.URL + "/users/PUSER01", "time_zone": "UTC",
			}
			for k, v := range want {
				if u[k] != v {
					t.Errorf("user.%s = %v, want %v", k, u[k], v)
				}
			}
		}},
		{"account key", "acct-tok", 400, func(t *testing.T, r result) {
			msg, ok := r.json(t)["error"].(string)
			if !ok || !strings.HasPrefix(msg, "Because this request was made using an account-level access token") {
				t.Errorf("error = %s, want the account-level string", r.body)
			}
		}},
		{"quoted token", `Token token="u+tok"`, 200, nil},
		{"unknown key", "nope", 401, func(t *testing.T, r result) {
			if r.errorCode(t) != 2006 || r.json(t)["error"].(map[string]any)["message"] != "Authentication failed" {
				t.Errorf("body = %s", r.body)
			}
		}},
		{"no header", "", 401, nil},
		{"unknown bearer", "Bearer xyz", 401, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/users/me", tc.auth, nil)
			if r.status != tc.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestReadOnlyCredentialsCannotWrite(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.AddAPIKey(APIKey{Token: "u+readonly-role", UserID: DemoReadOnlyID})
	e.sim.AddAPIKey(APIKey{Token: "u+restricted", UserID: DemoRestrictedID})
	e.sim.AddAPIKey(APIKey{Token: "u+ro-key-admin", UserID: DemoAdminID, ReadOnly: true})
	validIncident := map[string]any{"incident": map[string]any{
		"type": "incident", "title": "x", "service": map[string]any{"id": DemoPaymentsServiceID, "type": "service_reference"},
	}}
	tests := []struct {
		token, method, path string
		body                any
	}{
		{DemoReadOnlyToken, "POST", "/incidents", validIncident},
		{DemoReadOnlyToken, "PUT", "/incidents/" + DemoIncidentID, map[string]any{"incident": map[string]any{"type": "incident_reference", "status": "resolved"}}},
		{DemoReadOnlyToken, "POST", "/webhook_subscriptions", map[string]any{}},
		{DemoReadOnlyToken, "DELETE", "/webhook_subscriptions/PNOPE00", nil},
		{DemoReadOnlyToken, "POST", "/no/such/route", nil},
		{"u+ro-key-admin", "POST", "/incidents", validIncident},
		{DemoObserverToken, "POST", "/incidents", validIncident},
		{"u+readonly-role", "POST", "/incidents", validIncident},
		{"u+restricted", "PUT", "/incidents/" + DemoIncidentID, map[string]any{}},
	}
	before := len(e.sim.Incidents())
	for _, tc := range tests {
		t.Run(tc.token+" "+tc.method+" "+tc.path, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.token, tc.body, "From", "ada.admin@acme.example")
			if r.status != http.StatusForbidden || r.errorCode(t) != 2010 {
				t.Fatalf("got %d %s, want 403 code 2010", r.status, r.body)
			}
			if errs, ok := r.json(t)["error"].(map[string]any)["errors"].([]any); !ok || len(errs) == 0 {
				t.Errorf("errors missing: %s", r.body)
			}
		})
	}
	if n := len(e.sim.Incidents()); n != before {
		t.Errorf("incidents changed from %d to %d", before, n)
	}
	if r := e.do("GET", "/incidents", DemoReadOnlyToken, nil); r.status != 200 {
		t.Errorf("read-only GET = %d", r.status)
	}
}

func TestCreateIncidentValidation(t *testing.T) {
	e := newEnv(t, Options{})
	rcv := newReceiver(t)
	e.sim.AddWebhookSubscription(WebhookSubscription{ID: "PSUB001", URL: rcv.srv.URL, Events: []string{"incident.triggered"}})
	svc := map[string]any{"id": DemoPaymentsServiceID, "type": "service_reference"}
	inc := func(fields map[string]any) map[string]any {
		m := map[string]any{"type": "incident", "title": "Disk full", "service": svc}
		for k, v := range fields {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return map[string]any{"incident": m}
	}
	tests := []struct {
		name  string
		token string
		body  any
		from  string
	}{
		{"not json", DemoUserToken, "{nope", ""},
		{"array", DemoUserToken, "[]", ""},
		{"empty object", DemoUserToken, map[string]any{}, ""},
		{"incident not object", DemoUserToken, map[string]any{"incident": "x"}, ""},
		{"probe: empty incident", DemoUserToken, map[string]any{"incident": map[string]any{}}, ""},
		{"missing type", DemoUserToken, inc(map[string]any{"type": nil}), ""},
		{"wrong type", DemoUserToken, inc(map[string]any{"type": "incident_reference"}), ""},
		{"missing title", DemoUserToken, inc(map[string]any{"title": nil}), ""},
		{"blank title", DemoUserToken, inc(map[string]any{"title": "  "}), ""},
		{"title not string", DemoUserToken, inc(map[string]any{"title": 42}), ""},
		{"missing service", DemoUserToken, inc(map[string]any{"service": nil}), ""},
		{"unknown service", DemoUserToken, inc(map[string]any{"service": map[string]any{"id": "PNOPE00", "type": "service_reference"}}), ""},
		{"service wrong type", DemoUserToken, inc(map[string]any{"service": map[string]any{"id": DemoPaymentsServiceID, "type": "service"}}), ""},
		{"service not object", DemoUserToken, inc(map[string]any{"service": "PSVC001"}), ""},
		{"bad urgency", DemoUserToken, inc(map[string]any{"urgency": "urgent"}), ""},
		{"unknown priority", DemoUserToken, inc(map[string]any{"priority": map[string]any{"id": "PX", "type": "priority_reference"}}), ""},
		{"unknown assignee", DemoUserToken, inc(map[string]any{"assignments": []any{map[string]any{"assignee": map[string]any{"id": "PX", "type": "user_reference"}}}}), ""},
		{"account key without From", DemoAccountToken, inc(nil), ""},
		{"account key unknown From", DemoAccountToken, inc(nil), "nobody@example.com"},
		{"dedup key of open incident", DemoUserToken, inc(map[string]any{"incident_key": "payments-api/http-5xx"}), ""},
	}
	before := len(e.sim.Incidents())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.from != "" {
				hdr = []string{"From", tc.from}
			}
			r := e.do("POST", "/incidents", tc.token, tc.body, hdr...)
			if r.status != 400 || r.errorCode(t) != 2001 {
				t.Fatalf("got %d %s, want 400 code 2001", r.status, r.body)
			}
			er := r.json(t)["error"].(map[string]any)
			if er["message"] != "Invalid Input Provided" {
				t.Errorf("message = %v", er["message"])
			}
			if errs, ok := er["errors"].([]any); !ok || len(errs) == 0 {
				t.Errorf("errors = %v", er["errors"])
			}
		})
	}
	if n := len(e.sim.Incidents()); n != before {
		t.Fatalf("invalid requests created incidents: %d -> %d", before, n)
	}
	if err := e.sim.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := e.sim.Deliveries(); len(d) != 0 {
		t.Fatalf("invalid requests sent webhooks: %+v", d)
	}

	// Valid creations: user key, and account key with From.
	r := e.do("POST", "/incidents", DemoUserToken, inc(map[string]any{"urgency": "low", "priority": map[string]any{"id": "PPRIO02", "type": "priority_reference"}}))
	if r.status != 201 {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	got := r.json(t)["incident"].(map[string]any)
	if got["type"] != "incident" || got["status"] != "triggered" || got["urgency"] != "low" || got["title"] != "Disk full" {
		t.Errorf("incident = %v", got)
	}
	if got["priority"].(map[string]any)["summary"] != "P2" || got["service"].(map[string]any)["summary"] != "payments-api" {
		t.Errorf("references = %v %v", got["priority"], got["service"])
	}
	r = e.do("POST", "/incidents", DemoAccountToken, inc(nil), "From", "riley.responder@acme.example")
	if r.status != 201 {
		t.Fatalf("create with From = %d %s", r.status, r.body)
	}
	if err := e.sim.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.requests()); n != 2 {
		t.Fatalf("webhooks received = %d, want 2", n)
	}
	// The agent of the second one is the From user.
	ev := decodeEvent(t, rcv.requests()[1].body)
	if ev["event_type"] != "incident.triggered" || ev["agent"].(map[string]any)["id"] != DemoResponderID {
		t.Errorf("event = %v", ev)
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t, Options{})
	for i := 0; i < 130; i++ {
		e.sim.AddUser(User{ID: fmt.Sprintf("PU%05d", i), Name: fmt.Sprintf("User %03d", i), Email: fmt.Sprintf("u%d@example.com", i)})
	}
	const users = 137 // 7 seeded
	tests := []struct {
		query              string
		status, n, limit   int
		offset             int
		more               bool
		total              any
		wantErrCode        int
		firstID, wantFirst string
	}{
		{query: "", status: 200, n: 25, limit: 25, more: true},
		{query: "?limit=10&offset=5", status: 200, n: 10, limit: 10, offset: 5, more: true},
		{query: "?limit=1000", status: 200, n: 100, limit: 100, more: true},
		{query: "?limit=100&offset=100&total=true", status: 200, n: users - 100, limit: 100, offset: 100, more: false, total: float64(users)},
		{query: "?offset=500", status: 200, n: 0, limit: 25, offset: 500, more: false},
		{query: "?limit=0", status: 200, n: 25, limit: 25, more: true},
		{query: "?offset=9975&limit=25", status: 200, n: 0, limit: 25, offset: 9975},
		{query: "?offset=9976&limit=25", status: 400, wantErrCode: 2001},
		{query: "?offset=10000", status: 400, wantErrCode: 2001},
		{query: "?limit=abc", status: 400, wantErrCode: 2001},
		{query: "?offset=-1", status: 400, wantErrCode: 2001},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			r := e.do("GET", "/users"+tc.query, DemoUserToken, nil)
			if r.status != tc.status {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if tc.status != 200 {
				if r.errorCode(t) != tc.wantErrCode {
					t.Errorf("code = %d", r.errorCode(t))
				}
				return
			}
			m := r.json(t)
			if n := len(m["users"].([]any)); n != tc.n {
				t.Errorf("len = %d, want %d", n, tc.n)
			}
			if m["limit"] != float64(tc.limit) || m["offset"] != float64(tc.offset) || m["more"] != tc.more || m["total"] != tc.total {
				t.Errorf("envelope limit=%v offset=%v more=%v total=%v", m["limit"], m["offset"], m["more"], m["total"])
			}
			if _, ok := m["total"]; !ok {
				t.Error("total key missing (must be null)")
			}
		})
	}
	// Other lists share the envelope.
	for _, p := range []string{"/services", "/incidents", "/escalation_policies", "/webhook_subscriptions", "/teams", "/priorities",
		"/incidents/" + DemoIncidentID + "/alerts", "/incidents/" + DemoIncidentID + "/log_entries", "/services/" + DemoPaymentsServiceID + "/change_events"} {
		r := e.do("GET", p+"?limit=1&total=true", DemoUserToken, nil)
		if r.status != 200 {
			t.Errorf("%s: %d %s", p, r.status, r.body)
			continue
		}
		m := r.json(t)
		if m["limit"] != float64(1) || m["total"] == nil {
			t.Errorf("%s: envelope %v", p, m)
		}
		if r := e.do("GET", p+"?offset=10000", DemoUserToken, nil); r.status != 400 {
			t.Errorf("%s: deep offset = %d", p, r.status)
		}
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, Options{RateLimitPerMinute: 3})
	for i := 0; i < 3; i++ {
		if r := e.do("GET", "/users/me", DemoUserToken, nil); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	e.clock.Advance(20 * time.Second)
	r := e.do("GET", "/users/me", DemoUserToken, nil)
	if r.status != 429 || r.errorCode(t) != 2020 || r.json(t)["error"].(map[string]any)["message"] != "Rate Limit Exceeded" {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	for h, want := range map[string]string{"ratelimit-limit": "3", "ratelimit-remaining": "0", "ratelimit-reset": "40"} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if r := e.do("GET", "/users/me", DemoObserverToken, nil); r.status != 200 {
		t.Errorf("other token limited too: %d", r.status)
	}
	e.clock.Advance(41 * time.Second)
	if r := e.do("GET", "/users/me", DemoUserToken, nil); r.status != 200 {
		t.Errorf("after reset: %d", r.status)
	}
}

func TestFaultInjection(t *testing.T) {
	tests := []struct {
		name       string
		fault      Fault
		wantStatus int
		wantBody   string
		wantCT     string
		wantHeader map[string]string
	}{
		{"429 without headers", Fault{Path: "/users/me", Status: 429, Times: 1}, 429, "", "", map[string]string{"ratelimit-reset": ""}},
		{"429 with headers", Fault{Method: "GET", Path: "/users/me", Status: 429, Header: http.Header{"Ratelimit-Reset": {"7"}}, Body: `{"error":{"message":"Rate Limit Exceeded","code":2020}}`, Times: 1},
			429, `{"error":{"message":"Rate Limit Exceeded","code":2020}}`, "application/json; charset=utf-8", map[string]string{"ratelimit-reset": "7"}},
		{"401 html", Fault{Path: "/users/me", Status: 401, Body: "<html>Unauthorized</html>", Times: 1}, 401, "<html>Unauthorized</html>", "text/html; charset=utf-8", nil},
		{"500", Fault{Path: "/users/me", Status: 500, Body: "oops", Times: 1}, 500, "oops", "text/plain; charset=utf-8", nil},
		{"502", Fault{Path: "/users/*", Status: 502, Times: 1}, 502, "", "", nil},
		{"503", Fault{Path: "/users/me", Status: 503, Body: `{"error":"Service Unavailable"}`, Times: 1}, 503, `{"error":"Service Unavailable"}`, "", nil},
		{"errors as string", Fault{Path: "/users/me", Status: 400, Body: `{"error":{"message":"Invalid Input Provided","code":2001,"errors":"title missing"}}`, Times: 1}, 400, `{"error":{"message":"Invalid Input Provided","code":2001,"errors":"title missing"}}`, "", nil},
		{"errors as object", Fault{Path: "/users/me", Status: 400, Body: `{"error":{"message":"x","code":2001,"errors":{"title":["missing"]}}}`, Times: 1}, 400, `{"error":{"message":"x","code":2001,"errors":{"title":["missing"]}}}`, "", nil},
		{"error as array", Fault{Path: "/users/me", Status: 403, Body: `{"error":["Access Denied"]}`, Times: 1}, 403, `{"error":["Access Denied"]}`, "", nil},
		{"custom content type", Fault{Path: "/users/me", Status: 500, Body: "x", Header: http.Header{"Content-Type": {"application/xml"}}, Times: 1}, 500, "x", "application/xml", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			e.sim.InjectFault(tc.fault)
			r := e.do("GET", "/users/me", DemoUserToken, nil)
			if r.status != tc.wantStatus || string(r.body) != tc.wantBody {
				t.Fatalf("got %d %q, want %d %q", r.status, r.body, tc.wantStatus, tc.wantBody)
			}
			if tc.wantCT != "" && r.header.Get("Content-Type") != tc.wantCT {
				t.Errorf("Content-Type = %q", r.header.Get("Content-Type"))
			}
			for h, v := range tc.wantHeader {
				if r.header.Get(h) != v {
					t.Errorf("%s = %q, want %q", h, r.header.Get(h), v)
				}
			}
			// Times: 1 -> the next request is normal again.
			if r := e.do("GET", "/users/me", DemoUserToken, nil); r.status != 200 {
				t.Errorf("second request = %d", r.status)
			}
		})
	}

	t.Run("forever until cleared, method and path matching", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.sim.InjectFault(Fault{Method: "GET", Path: "/incidents*", Status: 503})
		for i := 0; i < 3; i++ {
			if r := e.do("GET", "/incidents/"+DemoIncidentID+"/alerts", DemoUserToken, nil); r.status != 503 {
				t.Fatalf("request %d = %d", i, r.status)
			}
		}
		if r := e.do("GET", "/services", DemoUserToken, nil); r.status != 200 {
			t.Errorf("other path = %d", r.status)
		}
		if r := e.do("POST", "/incidents", DemoUserToken, map[string]any{}); r.status != 400 {
			t.Errorf("other method = %d", r.status)
		}
		e.sim.ClearFaults()
		if r := e.do("GET", "/incidents", DemoUserToken, nil); r.status != 200 {
			t.Errorf("after ClearFaults = %d", r.status)
		}
	})

	t.Run("Times counts down", func(t *testing.T) {
		e := newEnv(t, Options{})
		e.sim.InjectFault(Fault{Path: "/oauth/token", Status: 500, Times: 2})
		for i, want := range []int{500, 500, 400} {
			r := e.do("POST", "/oauth/token", "", "grant_type=nope")
			if r.status != want {
				t.Errorf("request %d = %d, want %d", i, r.status, want)
			}
		}
	})
}

func TestRequestsRecorded(t *testing.T) {
	e := newEnv(t, Options{})
	e.do("POST", "/incidents?x=1", DemoUserToken, `{"incident":{}}`)
	reqs := e.sim.Requests()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/incidents" || r.Query.Get("x") != "1" || string(r.Body) != `{"incident":{}}` ||
		r.Header.Get("Authorization") != "Token token="+DemoUserToken || r.Status != 400 {
		t.Errorf("recorded %+v", r)
	}
}

func TestIncidentLifecycle(t *testing.T) {
	e := newEnv(t, Options{})
	rcv := newReceiver(t)
	e.sim.AddWebhookSubscription(WebhookSubscription{URL: rcv.srv.URL, Events: EventTypes, FilterType: "service_reference", FilterID: DemoPaymentsServiceID})
	put := func(body map[string]any) result {
		return e.do("PUT", "/incidents/"+DemoIncidentID, DemoUserToken, map[string]any{"incident": body})
	}
	steps := []struct {
		body   map[string]any
		status string
		events []string
	}{
		{map[string]any{"type": "incident_reference", "status": "acknowledged"}, "acknowledged", []string{"incident.acknowledged"}},
		{map[string]any{"type": "incident_reference", "status": "acknowledged"}, "acknowledged", nil},
		{map[string]any{"type": "incident_reference", "status": "triggered"}, "triggered", []string{"incident.unacknowledged"}},
		{map[string]any{"type": "incident", "priority": map[string]any{"id": "PPRIO03", "type": "priority_reference"}}, "triggered", []string{"incident.priority_updated"}},
		{map[string]any{"type": "incident_reference", "status": "resolved", "resolution": "rolled back"}, "resolved", []string{"incident.resolved"}},
		{map[string]any{"type": "incident_reference", "status": "acknowledged"}, "acknowledged", []string{"incident.reopened", "incident.acknowledged"}},
	}
	var want []string
	for i, st := range steps {
		r := put(st.body)
		if r.status != 200 {
			t.Fatalf("step %d: %d %s", i, r.status, r.body)
		}
		if got := r.json(t)["incident"].(map[string]any)["status"]; got != st.status {
			t.Errorf("step %d: status %v, want %s", i, got, st.status)
		}
		want = append(want, st.events...)
	}
	if r := put(map[string]any{"type": "incident", "status": "closed"}); r.status != 400 {
		t.Errorf("bad status = %d", r.status)
	}
	if r := e.do("PUT", "/incidents/PNOPE00", DemoUserToken, map[string]any{"incident": map[string]any{"type": "incident"}}); r.status != 404 || r.errorCode(t) != 2100 {
		t.Errorf("unknown incident = %d %s", r.status, r.body)
	}
	if err := e.sim.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, req := range rcv.requests() {
		got = append(got, decodeEvent(t, req.body)["event_type"].(string))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events = %v, want %v", got, want)
	}
	// Log entries, newest first, include the acknowledgement and resolution.
	r := e.do("GET", "/incidents/"+DemoIncidentID+"/log_entries?limit=100", DemoUserToken, nil)
	var types []string
	for _, le := range r.json(t)["log_entries"].([]any) {
		types = append(types, le.(map[string]any)["type"].(string))
	}
	if len(types) < 6 || types[len(types)-1] != "trigger_log_entry" || !strings.Contains(strings.Join(types, ","), "resolve_log_entry") {
		t.Errorf("log entry types = %v", types)
	}
	// By number, too.
	if r := e.do("GET", "/incidents/4", DemoUserToken, nil); r.status != 200 || r.json(t)["incident"].(map[string]any)["id"] != DemoIncidentID {
		t.Errorf("by number: %d %s", r.status, r.body)
	}
}

func TestListIncidentFilters(t *testing.T) {
	e := newEnv(t, Options{})
	ids := func(q string) string {
		r := e.do("GET", "/incidents"+q, DemoUserToken, nil)
		if r.status != 200 {
			return fmt.Sprintf("status %d", r.status)
		}
		var out []string
		for _, inc := range r.json(t)["incidents"].([]any) {
			out = append(out, inc.(map[string]any)["id"].(string))
		}
		return strings.Join(out, ",")
	}
	tests := map[string]string{
		"": "PINC004,PINC003,PINC002,PINC001",
		"?statuses[]=triggered&statuses[]=acknowledged":          "PINC002,PINC001",
		"?service_ids[]=" + DemoPaymentsServiceID:                "PINC004,PINC001",
		"?statuses[]=resolved&service_ids[]=PSVC003":             "PINC003",
		"?since=2025-03-13T00:00:00Z":                            "PINC002,PINC001",
		"?since=2025-03-01T00:00:00Z&until=2025-03-10T00:00:00Z": "PINC004",
		"?date_range=all&urgencies[]=low":                        "PINC003",
		"?user_ids[]=" + DemoResponderID:                         "PINC002",
		"?sort_by=created_at:desc&limit=1":                       "PINC001",
		"?statuses[]=bogus":                                      "status 400",
		"?since=yesterday":                                       "status 400",
	}
	for q, want := range tests {
		if got := ids(q); got != want {
			t.Errorf("%s: got %s, want %s", q, got, want)
		}
	}
}

func TestEvidenceReads(t *testing.T) {
	e := newEnv(t, Options{})
	get := func(path string) result { return e.do("GET", path, DemoUserToken, nil) }

	r := get("/incidents/" + DemoIncidentID + "/alerts")
	alerts := r.json(t)["alerts"].([]any)
	if len(alerts) != 2 {
		t.Fatalf("alerts = %d", len(alerts))
	}
	a := alerts[0].(map[string]any)
	body := a["body"].(map[string]any)
	if a["type"] != "alert" || a["alert_key"] != "payments-api/http-5xx" || a["status"] != "triggered" ||
		body["details"] == nil || body["cef_details"] == nil || body["contexts"] == nil ||
		a["service"].(map[string]any)["type"] != "service_reference" || a["incident"].(map[string]any)["id"] != DemoIncidentID {
		t.Errorf("alert = %v", a)
	}
	if r := get("/incidents/" + DemoIncidentID + "/alerts?alert_key=payments-api/latency-p99"); len(r.json(t)["alerts"].([]any)) != 1 {
		t.Errorf("alert_key filter: %s", r.body)
	}
	if r := get("/incidents/PNOPE00/alerts"); r.status != 404 {
		t.Errorf("unknown incident alerts = %d", r.status)
	}

	cf := get("/incidents/" + DemoIncidentID + "/custom_fields/values").json(t)["custom_fields"].([]any)
	if len(cf) != 4 || cf[0].(map[string]any)["type"] != "field_value" || cf[0].(map[string]any)["value"] != "production" {
		t.Errorf("custom fields = %v", cf)
	}

	ce := get("/services/" + DemoPaymentsServiceID + "/change_events").json(t)["change_events"].([]any)
	if len(ce) != 2 || ce[0].(map[string]any)["summary"] != "Deploy payments-api v1.42.0" {
		t.Errorf("change events = %v", ce)
	}
	ce = get("/services/" + DemoPaymentsServiceID + "/change_events?since=2025-03-14T11:00:00Z&until=2025-03-14T12:00:00Z").json(t)["change_events"].([]any)
	if len(ce) != 1 {
		t.Errorf("windowed change events = %d", len(ce))
	}
	if r := get("/services/" + DemoPaymentsServiceID + "/change_events?since=2025-03-14T11:00:00%2B02:00"); r.status != 400 {
		t.Errorf("non-UTC since = %d", r.status)
	}

	rels := get("/service_dependencies/technical_services/" + DemoPaymentsServiceID).json(t)["relationships"].([]any)
	if len(rels) != 3 {
		t.Errorf("relationships = %v", rels)
	}
	rel := rels[0].(map[string]any)
	if rel["type"] != "service_dependency" || rel["supporting_service"].(map[string]any)["type"] != "technical_service_reference" {
		t.Errorf("relationship = %v", rel)
	}

	related := get("/incidents/" + DemoIncidentID + "/related_incidents").json(t)["related_incidents"].([]any)
	if len(related) != 1 || related[0].(map[string]any)["incident"].(map[string]any)["id"] != "PINC002" {
		t.Errorf("related = %v", related)
	}
	past := get("/incidents/" + DemoIncidentID + "/past_incidents?total=true").json(t)
	pl := past["past_incidents"].([]any)
	if len(pl) != 1 || pl[0].(map[string]any)["incident"].(map[string]any)["id"] != "PINC004" || pl[0].(map[string]any)["score"] != float64(100) || past["total"] != float64(1) {
		t.Errorf("past = %v", past)
	}

	// Without the abilities: 403 (default) or 402, code 2014.
	e.sim.SetAbilities("teams")
	for _, p := range []string{"related_incidents", "past_incidents"} {
		r := get("/incidents/" + DemoIncidentID + "/" + p)
		if r.status != 403 || r.errorCode(t) != 2014 {
			t.Errorf("%s without ability: %d %s", p, r.status, r.body)
		}
	}
	if r := get("/abilities/" + AbilityPastIncidents); r.status != 402 {
		t.Errorf("ability test = %d", r.status)
	}
	if r := get("/abilities/teams"); r.status != 204 {
		t.Errorf("ability test = %d", r.status)
	}
	if got := get("/abilities").json(t)["abilities"].([]any); len(got) != 1 {
		t.Errorf("abilities = %v", got)
	}
	e2 := newEnv(t, Options{MissingAbilityStatus: 402})
	e2.sim.SetAbilities()
	if r := e2.do("GET", "/incidents/"+DemoIncidentID+"/related_incidents", DemoUserToken, nil); r.status != 402 {
		t.Errorf("402 mode = %d", r.status)
	}
}

func TestCustomFieldUpdateEmitsEvent(t *testing.T) {
	e := newEnv(t, Options{})
	rcv := newReceiver(t)
	e.sim.AddWebhookSubscription(WebhookSubscription{URL: rcv.srv.URL, Events: []string{"incident.custom_field_values.updated", "incident.annotated"}})
	r := e.do("PUT", "/incidents/"+DemoIncidentID+"/custom_fields/values", DemoUserToken,
		map[string]any{"custom_fields": []any{map[string]any{"name": "environment", "value": "staging"}, map[string]any{"id": "PCFIMP1", "value": nil}}})
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/incidents/"+DemoIncidentID+"/custom_fields/values", DemoUserToken,
		map[string]any{"custom_fields": []any{map[string]any{"name": "nope", "value": 1}}}); r.status != 400 {
		t.Errorf("unknown field = %d", r.status)
	}
	if r := e.do("POST", "/incidents/"+DemoIncidentID+"/notes", DemoUserToken, map[string]any{"note": map[string]any{"content": "rolled back"}}); r.status != 200 {
		t.Errorf("note = %d %s", r.status, r.body)
	}
	if err := e.sim.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	reqs := rcv.requests()
	if len(reqs) != 2 {
		t.Fatalf("webhooks = %d", len(reqs))
	}
	ev := decodeEvent(t, reqs[0].body)
	data := ev["data"].(map[string]any)
	if ev["event_type"] != "incident.custom_field_values.updated" || data["type"] != "incident_field_values" ||
		len(data["custom_fields"].([]any)) != 4 || len(data["changed_custom_fields"].([]any)) != 2 ||
		data["incident"].(map[string]any)["type"] != "incident_reference" {
		t.Errorf("event = %v", ev)
	}
	changed := data["changed_custom_fields"].([]any)[1].(map[string]any)
	if v, ok := changed["value"]; !ok || v != nil || changed["namespace"] != "incidents" {
		t.Errorf("cleared field = %v", changed)
	}
	if ev := decodeEvent(t, reqs[1].body); ev["event_type"] != "incident.annotated" || ev["data"].(map[string]any)["type"] != "incident_note" {
		t.Errorf("note event = %v", ev)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, Options{})
	rcv := newReceiver(t)
	e.sim.AddWebhookSubscription(WebhookSubscription{URL: rcv.srv.URL, Events: []string{"incident.triggered"}})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				e.do("POST", "/incidents", DemoUserToken, map[string]any{"incident": map[string]any{
					"type": "incident", "title": fmt.Sprintf("load %d/%d", i, j),
					"service": map[string]any{"id": DemoCheckoutServiceID, "type": "service_reference"}}})
				e.do("GET", "/incidents?limit=100", DemoUserToken, nil)
				_ = e.sim.Requests()
				_ = e.sim.Deliveries()
			}
		}(i)
	}
	wg.Wait()
	if err := e.sim.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sim.Incidents()); n != 4+80 {
		t.Errorf("incidents = %d", n)
	}
	if n := len(rcv.requests()); n != 80 {
		t.Errorf("webhooks = %d", n)
	}
	nums := map[int]bool{}
	for _, inc := range e.sim.Incidents() {
		if nums[inc.Number] {
			t.Fatalf("duplicate incident number %d", inc.Number)
		}
		nums[inc.Number] = true
	}
}

// TestGarbageNeverPanics throws odd bodies and paths at every route.
func TestGarbageNeverPanics(t *testing.T) {
	e := newEnv(t, Options{})
	bodies := []string{"", "null", "[]", "{}", `{"incident":null}`, `{"incident":[]}`, `{"incident":{"service":[],"assignments":{}}}`,
		`{"webhook_subscription":{"delivery_method":[],"events":"x","filter":7}}`, `{"custom_fields":[1,null,{"value":{}}]}`,
		`{"note":"x"}`, "\x00\xff", `{"incident":{"type":"incident","title":"t","service":{"id":5}}}`}
	for _, rt := range Routes() {
		path := strings.ReplaceAll(rt.Path, "{id}", DemoIncidentID)
		for _, b := range bodies {
			r := e.do(rt.Method, path, DemoUserToken, b)
			if r.status >= 500 {
				t.Errorf("%s %s %q: %d %s", rt.Method, path, b, r.status, r.body)
			}
		}
	}
	for _, p := range []string{"/", "//", "/incidents//alerts", "/incidents/%00", "/users/me/", "/x/y/z/w/v"} {
		if r := e.do("GET", p, DemoUserToken, nil); r.status >= 500 {
			t.Errorf("GET %s: %d", p, r.status)
		}
	}
}
