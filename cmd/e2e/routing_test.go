package e2e

import (
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// hasIncident reports whether c's incident list holds provider incident ext.
func (h *hubProc) hasIncident(c caller, ext string) bool {
	h.t.Helper()
	for _, in := range h.incidents(c) {
		if in["sourceAlertId"] == ext {
			return true
		}
	}
	return false
}

// connectAs connects c to the simulated PagerDuty and, when secret is not
// empty, stores it as the connection's signing secret.
func connectAs(t *testing.T, h *hubProc, c caller, secret string) {
	t.Helper()
	if res := h.do(c, "POST", "/pagerduty", map[string]any{"token": adminToken}); res.Status != 200 {
		t.Fatalf("connect %+v = %d %s", c, res.Status, res.Body)
	}
	if secret != "" {
		if res := h.do(c, "PUT", "/pagerduty/webhook-secret", map[string]any{"secret": secret}); res.Status != 200 {
			t.Fatalf("PUT secret %+v = %d %s", c, res.Status, res.Body)
		}
	}
}

// TestWebhookRoutingSurvivesOrgSwitch replays the report of issue #10 item
// 2: a user who belongs to two organisations sets up organisation A's
// webhook (URL /pagerduty/webhook/{user_id}), then acts in organisation B
// (GET webhook-url, connect, subscription). Organisation A's deliveries must
// keep reaching A, never B, and whatever cannot be told apart is refused.
func TestWebhookRoutingSurvivesOrgSwitch(t *testing.T) {
	const secretA, secretB = "whsec-org-a-000001", "whsec-org-b-000002"
	inA := caller{user: "user-multi", org: "org-a"}
	inB := caller{user: "user-multi", org: "org-b"}
	bob := caller{user: "user-bob", org: "org-b"}

	t.Run("signed", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, backend string) {
			sim := startSim(t)
			seedAccount(sim)
			h := startHub(t, sim, hubOpts{backend: backend})
			connectAs(t, h, inA, secretA)
			if res := h.do(inA, "GET", "/pagerduty/webhook-url", nil); res.Status != 200 {
				t.Fatalf("webhook-url in A = %d %s", res.Status, res.Body)
			}
			deliver := func(id, secret string, want int) {
				t.Helper()
				res := h.webhook(inA.user, incidentBody("incident.triggered", id, time.Now(), nil), secret)
				if res.Status != want {
					t.Fatalf("delivery %s signed for %s = %d %s, want %d", id, secret, res.Status, res.Body, want)
				}
			}
			deliver("PROUTE1", secretA, 202)

			// One look at the webhook URL while acting in organisation B
			// (which has no connection yet).
			if res := h.do(inB, "GET", "/pagerduty/webhook-url", nil); res.Status != 200 {
				t.Fatalf("webhook-url in B = %d %s", res.Status, res.Body)
			}
			// The next delivery comes later than the webhook lookup cache's
			// 2 s lifetime, as PagerDuty's would.
			time.Sleep(2100 * time.Millisecond)
			deliver("PROUTE2", secretA, 202)

			// Organisation B connects with its own secret, through the same
			// user and through another member.
			connectAs(t, h, inB, secretB)
			deliver("PROUTE3", secretA, 202)
			deliver("PROUTE4", secretB, 202)
			connectAs(t, h, bob, "")
			if res := h.do(bob, "GET", "/pagerduty/webhook-url", nil); res.Status != 200 {
				t.Fatalf("webhook-url of bob = %d %s", res.Status, res.Body)
			}
			deliver("PROUTE5", secretA, 202)
			deliver("PROUTE6", "whsec-nobody-knows", 401)

			for _, id := range []string{"PROUTE1", "PROUTE2", "PROUTE3", "PROUTE5"} {
				h.incidentBySource(inA, id, func(map[string]any) bool { return true })
			}
			h.incidentBySource(inB, "PROUTE4", func(map[string]any) bool { return true })
			// Give the pipeline time to misplace anything, then look for leaks.
			time.Sleep(300 * time.Millisecond)
			for _, id := range []string{"PROUTE1", "PROUTE2", "PROUTE3", "PROUTE5", "PROUTE6"} {
				if h.hasIncident(inB, id) {
					t.Errorf("organisation A's %s is in organisation B's incidents", id)
				}
			}
			for _, id := range []string{"PROUTE4", "PROUTE6"} {
				if h.hasIncident(inA, id) {
					t.Errorf("%s is in organisation A's incidents", id)
				}
			}
		})
	})

	t.Run("unsigned", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, backend string) {
			sim := startSim(t)
			seedAccount(sim)
			h := startHub(t, sim, hubOpts{backend: backend, env: map[string]string{"PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED": "true"}})
			connectAs(t, h, inA, "")
			if res := h.do(inA, "GET", "/pagerduty/webhook-url", nil); res.Status != 200 {
				t.Fatalf("webhook-url in A = %d %s", res.Status, res.Body)
			}
			// One connection, no secret: unsigned mode applies.
			if res := h.webhook(inA.user, incidentBody("incident.triggered", "PUNS001", time.Now(), nil)); res.Status != 202 {
				t.Fatalf("unsigned, one connection = %d %s", res.Status, res.Body)
			}
			h.incidentBySource(inA, "PUNS001", func(map[string]any) bool { return true })

			// Organisation B has its own connection; the user looks at the
			// webhook URL while acting in B.
			connectAs(t, h, bob, "")
			if res := h.do(inB, "GET", "/pagerduty/webhook-url", nil); res.Status != 200 {
				t.Fatalf("webhook-url in B = %d %s", res.Status, res.Body)
			}
			// The URL now reaches two connections: an unsigned delivery
			// cannot say which it belongs to, so it is refused, not guessed.
			res := h.webhook(inA.user, incidentBody("incident.triggered", "PUNS002", time.Now(), nil))
			if res.Status != 401 {
				t.Fatalf("unsigned, two connections = %d %s, want 401", res.Status, res.Body)
			}
			time.Sleep(300 * time.Millisecond)
			for _, c := range []caller{inA, inB} {
				if h.hasIncident(c, "PUNS002") {
					t.Fatalf("refused delivery PUNS002 is in %s's incidents", c.org)
				}
			}
			if h.hasIncident(inB, "PUNS001") {
				t.Fatalf("organisation A's PUNS001 is in organisation B's incidents")
			}
			// Bob's own URL still reaches only organisation B's connection.
			if res := h.webhook(bob.user, incidentBody("incident.triggered", "PUNS003", time.Now(), nil)); res.Status != 202 {
				t.Fatalf("unsigned to bob = %d %s", res.Status, res.Body)
			}
			h.incidentBySource(inB, "PUNS003", func(map[string]any) bool { return true })
			// The keyed URL reaches organisation A's connection alone, so
			// unsigned mode applies to it again; a wrong key, or A's key
			// under a user id that does not reach A, is not connected.
			keyed := h.do(inA, "GET", "/pagerduty/webhook-url", nil)
			keyedURL, _ := keyed.JSON["webhookUrlWithKey"].(string)
			u, err := url.Parse(keyedURL)
			if keyed.Status != 200 || err != nil || !strings.HasPrefix(u.Path, "/pagerduty/webhook/user-multi/") || len(u.Path) < len("/pagerduty/webhook/user-multi/")+32 {
				t.Fatalf("webhook-url = %d %s", keyed.Status, keyed.Body)
			}
			if again := h.do(inA, "GET", "/pagerduty/webhook-url", nil); again.JSON["webhookUrlWithKey"] != keyedURL {
				t.Fatalf("the key changed: %s then %s", keyedURL, again.JSON["webhookUrlWithKey"])
			}
			if other := h.do(bob, "GET", "/pagerduty/webhook-url", nil); other.JSON["webhookUrlWithKey"] == keyedURL || other.JSON["webhookUrlWithKey"] == nil {
				t.Fatalf("bob's keyed URL = %v", other.JSON["webhookUrlWithKey"])
			}
			key := path.Base(u.Path)
			postTo := func(p, id string) response {
				t.Helper()
				req, err := pdsim.NewWebhookRequest(ctxT(t), h.URL+p, incidentBody("incident.triggered", id, time.Now(), nil))
				if err != nil {
					t.Fatal(err)
				}
				return doRequest(t, req)
			}
			if res := postTo(u.Path, "PUNS005"); res.Status != 202 {
				t.Fatalf("unsigned to the keyed URL = %d %s", res.Status, res.Body)
			}
			h.incidentBySource(inA, "PUNS005", func(map[string]any) bool { return true })
			for _, p := range []string{"/pagerduty/webhook/user-multi/" + key + "x", "/pagerduty/webhook/" + bob.user + "/" + key} {
				if res := postTo(p, "PUNS006"); res.Status != 404 {
					t.Fatalf("POST %s = %d %s, want 404", p, res.Status, res.Body)
				}
			}
			// Once organisation A sets a secret, its signed deliveries find it again.
			if res := h.do(inA, "PUT", "/pagerduty/webhook-secret", map[string]any{"secret": secretA}); res.Status != 200 {
				t.Fatalf("PUT secret = %d %s", res.Status, res.Body)
			}
			if res := h.webhook(inA.user, incidentBody("incident.triggered", "PUNS004", time.Now(), nil), secretA); res.Status != 202 {
				t.Fatalf("signed for A = %d %s", res.Status, res.Body)
			}
			h.incidentBySource(inA, "PUNS004", func(map[string]any) bool { return true })
		})
	})
}
