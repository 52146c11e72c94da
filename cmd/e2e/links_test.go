package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// unsafeLinks are link values from webhook data that must not leave the
// hub as links: only absolute http(s) URLs do.
var unsafeLinks = []string{
	"javascript:alert(document.cookie)",
	"JAVASCRIPT:alert(1)",
	"  javascript:alert(1)",
	"\tjavascript:alert(1)",
	"data:text/html,<script>alert(1)</script>",
	"/incidents/relative",
	"//evil.example/protocol-relative",
}

// linksOf collects every link the API shows for an incident detail:
// alert.sourceUrl, links[].href and each reference's htmlUrl.
func linksOf(d map[string]any) []string {
	var out []string
	if a, ok := d["alert"].(map[string]any); ok {
		out = append(out, fmt.Sprint(a["sourceUrl"]))
	}
	for _, l := range asList(d["links"]) {
		out = append(out, fmt.Sprint(l.(map[string]any)["href"]))
	}
	refs := append(asList(d["assignees"]), asList(d["teams"])...)
	if ep, ok := d["escalationPolicy"].(map[string]any); ok {
		refs = append(refs, ep)
	}
	for _, r := range refs {
		if u, ok := r.(map[string]any)["htmlUrl"]; ok {
			out = append(out, fmt.Sprint(u))
		}
	}
	return out
}

func asList(v any) []any { l, _ := v.([]any); return l }

// TestUnsafeLinksStayData: javascript:, data:, upper-case, whitespace-prefixed
// and relative URLs in real PagerDuty and Alertmanager webhooks are never
// returned as links (sourceUrl, links[].href, htmlUrl); http(s) ones are.
// One backend: the filter is on the way out, not in the database.
func TestUnsafeLinksStayData(t *testing.T) {
	sim := startSim(t)
	seedAccount(sim)
	dir := pluginDirWith(t, "plugins/aurora-plugin-pagerduty", "extra/aurora-plugin-alertmanager")
	h := startHub(t, sim, hubOpts{backend: "sqlite", env: map[string]string{"HUB_PLUGIN_DIR": dir}})
	connectWithSecret(t, h, whSecret)
	now := time.Now().UTC().Add(-time.Minute)

	t.Run("pagerduty", func(t *testing.T) {
		for i, bad := range unsafeLinks {
			id := fmt.Sprintf("PUNSAFE%02d", i)
			body := incidentBody("incident.triggered", id, now, func(in *pdsim.WebhookIncident) {
				in.HTMLURL = bad
				in.Service.HTMLURL = bad
				in.Assignees = []pdsim.Reference{{ID: "PADMIN1", Type: "user_reference", Summary: "John Doe", HTMLURL: bad}}
				in.EscalationPolicy = &pdsim.Reference{ID: "PEP0001", Type: "escalation_policy_reference", Summary: "Default", HTMLURL: bad}
			})
			if res := h.webhook(alice.user, body, whSecret); res.Status != 202 {
				t.Fatalf("webhook %q = %d %s", bad, res.Status, res.Body)
			}
			d := h.incidentBySource(alice, id, func(map[string]any) bool { return true })
			for _, l := range linksOf(d) {
				if l != "" {
					t.Errorf("%q came back as link %q", bad, l)
				}
			}
			if links := asList(d["links"]); len(links) != 0 {
				t.Errorf("%q: links = %v, want none", bad, links)
			}
		}
		for _, in := range h.incidents(alice) {
			if u := in["alert"].(map[string]any)["sourceUrl"]; u != "" {
				t.Errorf("GET /incidents: %v has sourceUrl %q", in["sourceAlertId"], u)
			}
		}
		// An http(s) link still leaves the hub.
		const good = "https://acme.pagerduty.com/incidents/PSAFE01"
		body := incidentBody("incident.triggered", "PSAFE01", now, func(in *pdsim.WebhookIncident) {
			in.Service.HTMLURL = "https://acme.pagerduty.com/service-directory/PSVC001"
		})
		if res := h.webhook(alice.user, body, whSecret); res.Status != 202 {
			t.Fatalf("webhook = %d %s", res.Status, res.Body)
		}
		d := h.incidentBySource(alice, "PSAFE01", func(map[string]any) bool { return true })
		if got := linksOf(d); len(got) != 3 || got[0] != good || got[1] != good || got[2] != "https://acme.pagerduty.com/service-directory/PSVC001" {
			t.Fatalf("safe links = %q", got)
		}
	})

	t.Run("alertmanager", func(t *testing.T) {
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
		for i, bad := range unsafeLinks {
			quoted := fmt.Sprintf("%q", bad)
			// The generatorURL gives way to a safe externalURL...
			fp := fmt.Sprintf("fpunsafe%02d", i)
			body := alertmanagerBody("firing", fp, "checkout", "Checkout down", now)
			body = bytes.Replace(body, []byte(`"https://prometheus.example.com/graph"`), []byte(quoted), 1)
			send(body)
			d := h.incidentBySource(alice, fp, func(map[string]any) bool { return true })
			if got := linksOf(d); len(got) != 2 || got[0] != "https://alertmanager.example.com" || got[1] != got[0] {
				t.Errorf("generatorURL %q: links %q, want the externalURL", bad, got)
			}
			// ...and with both unsafe there is no link at all.
			fp = fmt.Sprintf("fpboth%02d", i)
			body = alertmanagerBody("firing", fp, "checkout", "Checkout down", now)
			body = bytes.Replace(body, []byte(`"https://prometheus.example.com/graph"`), []byte(quoted), 1)
			body = bytes.Replace(body, []byte(`"https://alertmanager.example.com"`), []byte(quoted), 1)
			send(body)
			d = h.incidentBySource(alice, fp, func(map[string]any) bool { return true })
			if got := linksOf(d); len(got) != 1 || got[0] != "" {
				t.Errorf("both unsafe %q: links %q", bad, got)
			}
			// The value itself is kept as data in the incident's timeline.
			if !strings.Contains(fmt.Sprint(d["timeline"]), strings.TrimSpace(bad)) {
				t.Errorf("%q is gone from the timeline data", bad)
			}
		}
	})
}
