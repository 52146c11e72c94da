package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk/webhook"
	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

func grafanaBody(status, fingerprint, service string, startsAt time.Time) []byte {
	return []byte(fmt.Sprintf(`{
  "receiver": "aurora", "status": %q, "orgId": 1, "version": "1", "groupKey": "{}:{alertname=\"PaymentsLatency\"}",
  "truncatedAlerts": 0, "externalURL": "https://grafana.example.com/", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
  "title": "[FIRING:1] payments", "state": "alerting", "message": "",
  "alerts": [{"status": %q, "labels": {"alertname": "PaymentsLatency", "service": %q, "severity": "critical"},
    "annotations": {"summary": "Payments p99 latency above 2s"}, "startsAt": %q, "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "https://grafana.example.com/alerting/grafana/x/view", "fingerprint": %q,
    "silenceURL": "", "dashboardURL": "", "panelURL": "", "values": {"B": 2.4}}]
}`, status, status, service, startsAt.UTC().Format(time.RFC3339Nano), fingerprint))
}

// TestGrafanaAlertsCorrelateAcrossProviders: the SDK 2 Grafana plugin
// connects without credentials, refuses a malformed secret when it is
// stored, shows its own setup steps, authenticates Grafana's HMAC signature
// (timestamped), and its alert joins the PagerDuty incident on the same
// service, beside an Alertmanager alert.
func TestGrafanaAlertsCorrelateAcrossProviders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		seedAccount(sim)
		dir := pluginDirWith(t, "plugins/aurora-plugin-pagerduty", "extra/aurora-plugin-alertmanager", "extra/aurora-plugin-grafana")
		h := startHub(t, sim, hubOpts{backend: backend, env: map[string]string{"HUB_PLUGIN_DIR": dir, "HUB_RCA_DELAY": "0s"}})
		connectWithSecret(t, h, whSecret)

		if res := h.do(alice, "POST", "/grafana", map[string]any{}); res.Status != 200 || res.JSON["connected"] != true {
			t.Fatalf("connect grafana without credentials = %d %s", res.Status, res.Body)
		}
		if res := h.do(alice, "PUT", "/grafana/webhook-secret", map[string]any{"secret": "hmac:short"}); res.Status != 400 ||
			!strings.Contains(string(res.Body), "at least 16 characters") {
			t.Fatalf("short secret = %d %s, want 400 naming the format", res.Status, res.Body)
		}
		const secret = "grafana-e2e-hmac-secret-01"
		if res := h.do(alice, "PUT", "/grafana/webhook-secret", map[string]any{"secret": "hmac:" + secret}); res.Status != 200 {
			t.Fatalf("grafana secret = %d %s", res.Status, res.Body)
		}
		res := h.do(alice, "GET", "/grafana/webhook-url", nil)
		url := fmt.Sprint(res.JSON["webhookUrl"])
		if !strings.HasSuffix(url, "/grafana/webhook/"+alice.user) || !strings.Contains(string(res.Body), "Contact points") ||
			!strings.Contains(string(res.Body), "Set the URL to "+url) {
			t.Fatalf("webhook-url = %s", res.Body)
		}
		const bearer = "am-e2e-bearer-token-0001"
		if res := h.do(alice, "POST", "/alertmanager", map[string]any{"token": "bearer:" + bearer}); res.Status != 200 {
			t.Fatalf("connect alertmanager = %d %s", res.Status, res.Body)
		}
		if res := h.do(alice, "PUT", "/alertmanager/webhook-secret", map[string]any{"secret": "bearer:" + bearer}); res.Status != 200 {
			t.Fatalf("alertmanager secret = %d %s", res.Status, res.Body)
		}

		now := time.Now().UTC().Add(-2 * time.Minute)
		pd := sim.AddIncident(pdsim.Incident{Title: "Payments API error rate above 5%", ServiceID: "PSVC001", Urgency: "high"})
		if res := h.webhook(alice.user, triggerBody(pd, "PSVC001", "payments-api", now), whSecret); res.Status != 202 {
			t.Fatalf("PD trigger = %d %s", res.Status, res.Body)
		}
		parent := h.incidentBySource(alice, pd.ID, func(m map[string]any) bool { return m["enrichment"] != nil })

		post := func(provider string, body []byte, header http.Header) response {
			req, _ := http.NewRequest("POST", h.URL+"/"+provider+"/webhook/"+alice.user, bytes.NewReader(body))
			req.Header = header
			req.Header.Set("Content-Type", "application/json")
			return doRequest(t, req)
		}
		sign := func(body []byte, key string, at time.Time) http.Header {
			ts := strconv.FormatInt(at.Unix(), 10)
			return http.Header{
				"X-Grafana-Alerting-Signature":           {(&webhook.HMAC{}).Sign(key, ts, body)},
				"X-Grafana-Alerting-Signature-Timestamp": {ts},
			}
		}
		alert := grafanaBody("firing", "gf0001", "payments-api", now.Add(20*time.Second))
		if res := post("grafana", alert, sign(alert, "wrong-secret-0000000000", time.Now())); res.Status != 401 {
			t.Fatalf("wrong signature = %d %s", res.Status, res.Body)
		}
		if res := post("grafana", alert, sign(alert, secret, time.Now().Add(-time.Hour))); res.Status != 401 {
			t.Fatalf("replayed (stale) delivery = %d %s", res.Status, res.Body)
		}
		if res := post("grafana", alert, sign(alert, secret, time.Now())); res.Status != 202 {
			t.Fatalf("grafana alert = %d %s", res.Status, res.Body)
		}
		am := alertmanagerBody("firing", "fp0002", "payments-api", "Payments 5xx rate above 5%", now.Add(30*time.Second))
		if res := post("alertmanager", am, http.Header{"Authorization": {"Bearer " + bearer}}); res.Status != 202 {
			t.Fatalf("alertmanager alert = %d %s", res.Status, res.Body)
		}

		h.incidentBySource(alice, pd.ID, func(m map[string]any) bool { return m["correlatedAlertCount"] == float64(2) })
		for ext, source := range map[string]string{"gf0001": "grafana", "fp0002": "alertmanager"} {
			child := h.incidentBySource(alice, ext, func(m map[string]any) bool { return m["correlation"] != nil })
			if child["sourceType"] != source || child["severity"] != "critical" {
				t.Fatalf("%s incident = %v", source, child)
			}
			if c := child["correlation"].(map[string]any); c["parentIncidentId"] != parent["id"] {
				t.Fatalf("%s correlated to %v, want %v", source, c["parentIncidentId"], parent["id"])
			}
		}
		resolved := bytes.ReplaceAll(grafanaBody("resolved", "gf0001", "payments-api", now.Add(20*time.Second)),
			[]byte(`"endsAt": "0001-01-01T00:00:00Z"`), []byte(`"endsAt": "`+now.Add(5*time.Minute).Format(time.RFC3339)+`"`))
		if res := post("grafana", resolved, sign(resolved, secret, time.Now())); res.Status != 202 {
			t.Fatalf("grafana resolved = %d %s", res.Status, res.Body)
		}
		h.incidentBySource(alice, "gf0001", func(m map[string]any) bool { return m["status"] == "resolved" })
	})
}
