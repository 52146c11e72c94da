package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// amAlert is one alert of an Alertmanager webhook (payload version 4).
type amAlert struct {
	status, fingerprint string
	startsAt, endsAt    time.Time
	labels, annots      map[string]string
}

func amBody(alerts ...amAlert) []byte {
	var parts []string
	for _, a := range alerts {
		labels := map[string]string{"alertname": "HighErrorRate", "service": "payments-api", "severity": "critical"}
		for k, v := range a.labels {
			labels[k] = v
		}
		annots := map[string]string{"summary": "Payments 5xx rate above 5% (" + a.fingerprint + ")"}
		for k, v := range a.annots {
			annots[k] = v
		}
		ends := "0001-01-01T00:00:00Z"
		if !a.endsAt.IsZero() {
			ends = a.endsAt.UTC().Format(time.RFC3339)
		}
		parts = append(parts, fmt.Sprintf(`{"status":%q,"labels":%s,"annotations":%s,"startsAt":%q,"endsAt":%q,"generatorURL":"https://prometheus.example.com/graph","fingerprint":%q}`,
			a.status, mustJSONText(labels), mustJSONText(annots), a.startsAt.UTC().Format(time.RFC3339), ends, a.fingerprint))
	}
	return []byte(`{"version":"4","groupKey":"{}:{alertname=\"HighErrorRate\"}","status":"firing","receiver":"aurora","externalURL":"https://alertmanager.example.com","alerts":[` +
		strings.Join(parts, ",") + `]}`)
}

// TestIncidentModelDefects reproduces, through the real hub and the real
// Alertmanager and PagerDuty plugins, the defects found with real clients:
// a correlated group looked resolved while members still fired; an
// annotation named like a label replaced it; a refire kept the first
// startedAt; a custom-field event for an unknown incident left a blank
// incident in the list.
func TestIncidentModelDefects(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		seedAccount(sim)
		dir := pluginDirWith(t, "plugins/aurora-plugin-pagerduty", "extra/aurora-plugin-alertmanager")
		h := startHub(t, sim, hubOpts{backend: backend, env: map[string]string{"HUB_PLUGIN_DIR": dir, "HUB_RCA_DELAY": "0s"}})
		connectWithSecret(t, h, whSecret)
		const bearer = "am-e2e-bearer-token-0002"
		if res := h.do(alice, "POST", "/alertmanager", map[string]any{"token": "bearer:" + bearer}); res.Status != 200 {
			t.Fatalf("connect alertmanager = %d %s", res.Status, res.Body)
		}
		if res := h.do(alice, "PUT", "/alertmanager/webhook-secret", map[string]any{"secret": "bearer:" + bearer}); res.Status != 200 {
			t.Fatalf("alertmanager secret = %d %s", res.Status, res.Body)
		}
		send := func(body []byte) {
			t.Helper()
			req, _ := http.NewRequest("POST", h.URL+"/alertmanager/webhook/"+alice.user, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+bearer)
			if res := doRequest(t, req); res.Status != 202 {
				t.Fatalf("alertmanager webhook = %d %s", res.Status, res.Body)
			}
		}
		topLevel := func() map[string]map[string]any {
			res := h.do(alice, "GET", "/incidents", nil)
			out := map[string]map[string]any{}
			list, _ := res.JSON["incidents"].([]any)
			for _, i := range list {
				m := i.(map[string]any)
				out[fmt.Sprint(m["sourceAlertId"])] = m
			}
			return out
		}

		// A group of three: the first alert, then two that join it.
		t0 := time.Now().UTC().Add(-5 * time.Minute).Truncate(time.Second)
		send(amBody(amAlert{status: "firing", fingerprint: "fpgroup01", startsAt: t0,
			labels: map[string]string{"team": "payments"}, annots: map[string]string{"team": "Payments on-call"}}))
		parent := h.incidentBySource(alice, "fpgroup01", func(m map[string]any) bool { return m["enrichment"] != nil })
		// Label and annotation of one name are both kept.
		fields, _ := parent["customFields"].(map[string]any)
		label, _ := fields["team"].(map[string]any)
		annot, _ := fields["annotations.team"].(map[string]any)
		if label["value"] != "payments" || annot["value"] != "Payments on-call" {
			t.Errorf("custom fields: team=%v annotations.team=%v", label, annot)
		}
		send(amBody(amAlert{status: "firing", fingerprint: "fpgroup02", startsAt: t0.Add(20 * time.Second)},
			amAlert{status: "firing", fingerprint: "fpgroup03", startsAt: t0.Add(40 * time.Second)}))
		for _, fp := range []string{"fpgroup02", "fpgroup03"} {
			child := h.incidentBySource(alice, fp, func(m map[string]any) bool { return m["correlation"] != nil })
			if c := child["correlation"].(map[string]any); c["parentIncidentId"] != parent["id"] {
				t.Fatalf("%s correlated to %v, want %v", fp, c["parentIncidentId"], parent["id"])
			}
		}

		// Alertmanager resolves the first alert; the other two still fire.
		send(amBody(amAlert{status: "resolved", fingerprint: "fpgroup01", startsAt: t0, endsAt: t0.Add(3 * time.Minute)}))
		h.incidentBySource(alice, "fpgroup01", func(m map[string]any) bool { return m["providerStatus"] == "resolved" })
		list := topLevel()
		if p := list["fpgroup01"]; p == nil || p["status"] == "resolved" || p["resolvedAt"] != nil {
			t.Fatalf("the group shows resolved while two alerts fire: %v", p)
		}
		open := h.do(alice, "GET", "/incidents?status=investigating,analyzed", nil)
		if !strings.Contains(string(open.Body), `"sourceAlertId":"fpgroup01"`) {
			t.Fatalf("open incidents lack the group: %s", open.Body)
		}
		// The group resolves with its last member.
		send(amBody(amAlert{status: "resolved", fingerprint: "fpgroup02", startsAt: t0.Add(20 * time.Second), endsAt: t0.Add(3 * time.Minute)},
			amAlert{status: "resolved", fingerprint: "fpgroup03", startsAt: t0.Add(40 * time.Second), endsAt: t0.Add(3 * time.Minute)}))
		h.incidentBySource(alice, "fpgroup03", func(m map[string]any) bool { return m["status"] == "resolved" })
		h.incidentBySource(alice, "fpgroup02", func(m map[string]any) bool { return m["status"] == "resolved" })
		if p := topLevel()["fpgroup01"]; p["status"] != "resolved" {
			t.Fatalf("all resolved, group shows %v", p["status"])
		}

		// The first alert fires again: a new episode starts then.
		refire := t0.Add(4 * time.Minute)
		send(amBody(amAlert{status: "firing", fingerprint: "fpgroup01", startsAt: refire}))
		again := h.incidentBySource(alice, "fpgroup01", func(m map[string]any) bool { return m["status"] != "resolved" })
		if started, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(again["startedAt"])); !started.Equal(refire) || again["resolvedAt"] != nil {
			t.Fatalf("after the refire: startedAt %v resolvedAt %v, want %v and null", again["startedAt"], again["resolvedAt"], refire)
		}

		// A PagerDuty custom-field update for an incident the hub never saw,
		// then a trigger of another: once the trigger is listed, the first
		// has been applied too (events apply in order), and is not listed.
		ref := pdsim.Reference{ID: "PNEVERSEEN"}
		region := pdsim.CustomFieldValue{ID: "F2", Name: "region", DataType: "string", FieldType: "single_value_fixed", Value: "eu-west-1"}
		ev := pdsim.CustomFieldValuesEvent(ref, []pdsim.CustomFieldValue{region}, []pdsim.CustomFieldValue{region}).At(time.Now())
		if res := h.webhook(alice.user, ev.Body(), whSecret); res.Status != 202 {
			t.Fatalf("fields = %d %s", res.Status, res.Body)
		}
		pd := sim.AddIncident(pdsim.Incident{Title: "Disk almost full", ServiceID: "PSVC001", Urgency: "low"})
		if res := h.webhook(alice.user, triggerBody(pd, "PSVC001", "payments-api", time.Now()), whSecret); res.Status != 202 {
			t.Fatalf("trigger = %d %s", res.Status, res.Body)
		}
		h.incidentBySource(alice, pd.ID, func(map[string]any) bool { return true })
		for _, in := range h.incidents(alice) {
			if in["sourceAlertId"] == "PNEVERSEEN" || in["title"] == "" {
				t.Fatalf("a blank incident is listed: %v", in)
			}
		}
	})
}

func mustJSONText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
