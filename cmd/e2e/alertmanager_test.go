package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// pluginDirWith copies the named built plugin binaries into a fresh
// directory for one hub.
func pluginDirWith(t *testing.T, paths ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range paths {
		src, err := os.Open(filepath.Join(binDir, p))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.OpenFile(filepath.Join(dir, filepath.Base(p)), os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		dst.Close()
	}
	return dir
}

func alertmanagerBody(status, fingerprint, service, summary string, startsAt time.Time) []byte {
	return []byte(fmt.Sprintf(`{
  "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts": 0, "status": %q,
  "receiver": "aurora", "groupLabels": {"alertname": "HighErrorRate"}, "commonLabels": {"alertname": "HighErrorRate"},
  "commonAnnotations": {}, "externalURL": "https://alertmanager.example.com",
  "alerts": [{"status": %q, "labels": {"alertname": "HighErrorRate", "service": %q, "severity": "critical"},
    "annotations": {"summary": %q}, "startsAt": %q, "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "https://prometheus.example.com/graph", "fingerprint": %q}]
}`, status, status, service, summary, startsAt.UTC().Format(time.RFC3339Nano), fingerprint))
}

// TestAlertmanagerAlertsCorrelateWithPagerDuty: a second provider, written
// against the SDK alone, is served through the same generic routes, and its
// alerts join a PagerDuty incident on the same service.
func TestAlertmanagerAlertsCorrelateWithPagerDuty(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		seedAccount(sim)
		dir := pluginDirWith(t, "plugins/aurora-plugin-pagerduty", "extra/aurora-plugin-alertmanager")
		h := startHub(t, sim, hubOpts{backend: backend, env: map[string]string{"HUB_PLUGIN_DIR": dir, "HUB_RCA_DELAY": "0s"}})
		health := h.probe("/healthz", true)
		if !strings.Contains(string(health.Body), `"name":"alertmanager"`) {
			t.Fatalf("healthz lacks alertmanager: %s", health.Body)
		}
		connectWithSecret(t, h, whSecret)

		// Connect Alertmanager: the credentials it will send, then the secret to expect.
		const bearer = "am-e2e-bearer-token-0001"
		if res := h.do(alice, "POST", "/alertmanager", map[string]any{"token": "bearer:" + bearer}); res.Status != 200 || res.JSON["connected"] != true {
			t.Fatalf("connect alertmanager = %d %s", res.Status, res.Body)
		}
		if res := h.do(alice, "PUT", "/alertmanager/webhook-secret", map[string]any{"secret": "bearer:" + bearer}); res.Status != 200 {
			t.Fatalf("alertmanager secret = %d %s", res.Status, res.Body)
		}
		if res := h.do(alice, "GET", "/alertmanager/webhook-url", nil); !strings.HasSuffix(fmt.Sprint(res.JSON["webhookUrl"]), "/alertmanager/webhook/"+alice.user) {
			t.Fatalf("webhook-url = %s", res.Body)
		}

		// A PagerDuty incident on payments-api...
		now := time.Now().UTC().Add(-2 * time.Minute)
		pd := sim.AddIncident(pdsim.Incident{Title: "Payments API error rate above 5%", ServiceID: "PSVC001", Urgency: "high"})
		if res := h.webhook(alice.user, triggerBody(pd, "PSVC001", "payments-api", now), whSecret); res.Status != 202 {
			t.Fatalf("PD trigger = %d %s", res.Status, res.Body)
		}
		parent := h.incidentBySource(alice, pd.ID, func(m map[string]any) bool { return m["enrichment"] != nil })

		send := func(body []byte, auth string) response {
			req, _ := http.NewRequest("POST", h.URL+"/alertmanager/webhook/"+alice.user, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			return doRequest(t, req)
		}
		alert := alertmanagerBody("firing", "fp0001", "payments-api", "Payments 5xx rate above 5%", now.Add(30*time.Second))
		if res := send(alert, "Bearer wrong-token-value-000"); res.Status != 401 {
			t.Fatalf("wrong bearer = %d %s", res.Status, res.Body)
		}
		if res := send(alert, ""); res.Status != 401 {
			t.Fatalf("no credentials = %d %s", res.Status, res.Body)
		}
		if res := send([]byte(`{"version":"3","alerts":[]}`), "Bearer "+bearer); res.Status != 400 {
			t.Fatalf("version 3 = %d %s", res.Status, res.Body)
		}
		for i := 0; i < 2; i++ { // a redelivery changes nothing
			if res := send(alert, "Bearer "+bearer); res.Status != 202 {
				t.Fatalf("alert #%d = %d %s", i, res.Status, res.Body)
			}
		}
		// ...and the Prometheus alert joins it.
		h.incidentBySource(alice, pd.ID, func(m map[string]any) bool { return m["correlatedAlertCount"] == float64(1) })
		child := h.incidentBySource(alice, "fp0001", func(m map[string]any) bool { return m["correlation"] != nil })
		if child["sourceType"] != "alertmanager" || child["severity"] != "critical" {
			t.Fatalf("alertmanager incident = %v", child)
		}
		if c := child["correlation"].(map[string]any); c["parentIncidentId"] != parent["id"] {
			t.Fatalf("correlated to %v, want %v", c["parentIncidentId"], parent["id"])
		}
		// The resolution resolves the alert's incident.
		resolved := alertmanagerBody("resolved", "fp0001", "payments-api", "Payments 5xx rate above 5%", now.Add(30*time.Second))
		resolved = bytes.Replace(resolved, []byte(`"endsAt": "0001-01-01T00:00:00Z"`), []byte(`"endsAt": "`+now.Add(5*time.Minute).Format(time.RFC3339)+`"`), 1)
		if res := send(resolved, "Bearer "+bearer); res.Status != 202 {
			t.Fatalf("resolved = %d %s", res.Status, res.Body)
		}
		h.incidentBySource(alice, "fp0001", func(m map[string]any) bool { return m["status"] == "resolved" })

		// Aurora's pages: the alert among the incident's correlated alerts,
		// its labels, annotations, link and raw alert in its own detail.
		pdDetail := h.frontend(alice, "GET", "/api/incidents/"+parent["id"].(string), "").JSON["incident"].(map[string]any)
		if ca := pdDetail["correlatedAlerts"].([]any); len(ca) != 2 || ca[1].(map[string]any)["sourceType"] != "alertmanager" {
			t.Errorf("correlatedAlerts = %v", ca)
		}
		amDetail := h.frontend(alice, "GET", "/api/incidents/"+child["id"].(string), "").JSON["incident"].(map[string]any)
		amAlert := amDetail["alert"].(map[string]any)
		md, _ := amAlert["metadata"].(map[string]any)
		labels, _ := md["labels"].(map[string]any)
		annotations, _ := md["annotations"].(map[string]any)
		if labels["service"] != "payments-api" || annotations["summary"] != "Payments 5xx rate above 5%" || md["alertUrl"] != "https://prometheus.example.com/graph" {
			t.Errorf("alertmanager metadata = %v", md)
		}
		if raw, _ := amAlert["rawPayload"].(string); !strings.Contains(raw, `"fingerprint": "fp0001"`) {
			t.Errorf("alertmanager rawPayload = %q", raw)
		}
	})
}
