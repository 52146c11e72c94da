package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// row is the counts rotate-key printed for table, space-separated.
func row(out, table string) string {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == table {
			return strings.Join(f[1:], " ")
		}
	}
	return ""
}

func newKey() string {
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// rotateKeyCmd runs `aurora-hub rotate-key` on h's database with env and
// returns its output and whether it exited 0.
func rotateKeyCmd(t *testing.T, h *hubProc, env map[string]string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "aurora-hub"), append([]string{"rotate-key"}, args...)...)
	cmd.Dir = h.DataDir
	cmd.Env = []string{"HUB_DATABASE_URL=" + h.DBURL, "HUB_LOG_FORMAT=text"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		t.Fatal(err)
	}
	return string(out), err == nil
}

// TestEncryptionKeyRotation connects with key A, restarts with key B and
// previous key A, rotates every stored secret to B, restarts with B alone,
// and finally starts with a wrong key: the hub names the missing key and
// fails the affected requests cleanly, without a panic or a secret in its
// logs.
func TestEncryptionKeyRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		sim := startSim(t)
		now := time.Now().UTC().Truncate(time.Second)
		first := pipelineAccount(sim, now)
		keyA, keyB, keyC := newKey(), newKey(), newKey()

		// deliver sends a signed webhook for inc and waits until the
		// pipeline has enriched it through the plugin: the webhook secret
		// and the connection's credential both opened.
		deliver := func(h *hubProc, inc pdsim.Incident) {
			t.Helper()
			if res := h.webhook(alice.user, triggerBody(inc, "PSVC001", "payments-api", now), whSecret); res.Status != 202 {
				t.Fatalf("webhook = %d %s\n%s", res.Status, res.Body, h.Logs())
			}
			h.incidentBySource(alice, inc.ID, func(m map[string]any) bool {
				ev, _ := m["evidence"].([]any)
				for _, e := range ev {
					if e.(map[string]any)["kind"] == "alert" {
						return true
					}
				}
				return false
			})
			if res := h.do(alice, "GET", "/pagerduty", nil); res.Status != 200 || res.JSON["connected"] != true {
				t.Fatalf("GET /pagerduty = %d %s", res.Status, res.Body)
			}
		}
		newIncident := func(title string) pdsim.Incident {
			inc := sim.AddIncident(pdsim.Incident{Title: title, ServiceID: "PSVC001", Urgency: "high", CreatedAt: now})
			sim.AddAlert(pdsim.Alert{IncidentID: inc.ID, AlertKey: "k/" + title, Summary: title, Severity: "critical", ServiceID: "PSVC001", CreatedAt: now})
			return inc
		}

		h := startHub(t, sim, hubOpts{backend: backend, env: map[string]string{"HUB_ENCRYPTION_KEY": keyA}})
		connectWithSecret(t, h, whSecret)
		// Bob's connection is not used until the key is rotated: only
		// rotate-key re-seals it. Alice's is re-sealed lazily, on use.
		bob := caller{user: "user-bob"}
		if res := h.do(bob, "POST", "/pagerduty", map[string]any{"token": accountRW}); res.Status != 200 {
			t.Fatalf("connect bob = %d %s", res.Status, res.Body)
		}
		deliver(h, first)
		h.stop()
		restart := func(env map[string]string) *hubProc {
			return startHub(t, sim, hubOpts{backend: backend, dbURL: h.DBURL, dataDir: h.DataDir, env: env})
		}

		// B with previous A: everything sealed with A still opens.
		hb := restart(map[string]string{"HUB_ENCRYPTION_KEY": keyB, "HUB_ENCRYPTION_PREVIOUS_KEYS": keyA})
		if !strings.Contains(hb.Logs(), "aurora-hub rotate-key") {
			t.Errorf("the hub did not report secrets sealed with the previous key:\n%s", hb.Logs())
		}
		deliver(hb, newIncident("after the key change"))
		hb.stop()

		// rotate-key re-seals the rest; B alone then finds nothing stale.
		out, ok := rotateKeyCmd(t, h, map[string]string{"HUB_ENCRYPTION_KEY": keyB, "HUB_ENCRYPTION_PREVIOUS_KEYS": keyA})
		// TOTAL CURRENT STALE UNKNOWN RESEALED FAILED
		if !ok || row(out, "connections") != "2 1 1 0 1 0" || row(out, "webhook_secrets") != "1 1 0 0 0 0" {
			t.Fatalf("rotate-key:\n%s", out)
		}
		out, ok = rotateKeyCmd(t, h, map[string]string{"HUB_ENCRYPTION_KEY": keyB}, "-dry-run")
		if !ok || row(out, "connections") != "2 2 0 0 0 0" || row(out, "webhook_secrets") != "1 1 0 0 0 0" {
			t.Fatalf("rotate-key -dry-run with B alone:\n%s", out)
		}

		hb2 := restart(map[string]string{"HUB_ENCRYPTION_KEY": keyB})
		deliver(hb2, newIncident("after rotate-key"))
		if res := hb2.do(bob, "POST", "/pagerduty/webhook-subscription", map[string]any{}); res.Status != 200 && res.Status != 201 {
			t.Fatalf("bob's credential after rotate-key: webhook-subscription = %d %s", res.Status, res.Body)
		}
		hb2.stop()

		// A wrong key: rotate-key fails and says why; the hub starts, names
		// the problem, and answers the affected webhook with an error.
		out, ok = rotateKeyCmd(t, h, map[string]string{"HUB_ENCRYPTION_KEY": keyC})
		if ok || !strings.Contains(out, "could not be opened") || !strings.Contains(out, "neither HUB_ENCRYPTION_KEY nor in HUB_ENCRYPTION_PREVIOUS_KEYS") {
			t.Fatalf("rotate-key with a wrong key:\n%s", out)
		}
		if out, ok := rotateKeyCmd(t, h, nil); ok || !strings.Contains(out, "HUB_ENCRYPTION_KEY: not set") {
			t.Fatalf("rotate-key without a key:\n%s", out)
		}
		hc := restart(map[string]string{"HUB_ENCRYPTION_KEY": keyC})
		if !strings.Contains(hc.Logs(), "cannot be opened: configure that key") {
			t.Errorf("the hub did not report secrets it cannot open:\n%s", hc.Logs())
		}
		inc := newIncident("with the wrong key")
		if res := hc.webhook(alice.user, triggerBody(inc, "PSVC001", "payments-api", now), whSecret); res.Status < 500 {
			t.Fatalf("webhook with the wrong key = %d %s", res.Status, res.Body)
		}
		if !processAlive(hc.Pid()) {
			t.Fatalf("the hub died:\n%s", hc.Logs())
		}
		logs := hc.Logs() + hb.Logs() + hb2.Logs() + h.Logs() + out
		for _, secret := range []string{adminToken, whSecret, keyA, keyB, keyC} {
			if strings.Contains(logs, secret) {
				t.Fatalf("a secret is in the logs or output")
			}
		}
		if strings.Contains(logs, "panic") {
			t.Fatalf("panic in the logs:\n%s", logs)
		}
		if !strings.Contains(hc.Logs(), "neither HUB_ENCRYPTION_KEY nor in HUB_ENCRYPTION_PREVIOUS_KEYS") {
			t.Errorf("the failing webhook's log does not name the missing key:\n%s", hc.Logs())
		}
	})
}
