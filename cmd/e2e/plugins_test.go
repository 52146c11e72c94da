package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// The plugin host's robustness, end to end: the real hub with real plugin
// binaries, among them the test plugins of testplugins/ (flaky obeys a
// control file, raw misbehaves at the protocol level).

// installPlugin copies a built binary into dir as aurora-plugin-<name>,
// atomically (as an operator should: a half-written binary never runs).
func installPlugin(t *testing.T, dir, built, name string, extra ...byte) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(binDir, built))
	if err != nil {
		t.Fatal(err)
	}
	// Bytes appended to an ELF binary change its SHA-256, not what it does.
	b = append(b, extra...)
	dst := filepath.Join(dir, "aurora-plugin-"+name)
	tmp := filepath.Join(dir, ".tmp-"+name)
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func sha256Of(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}

func writeSums(t *testing.T, dir string, sums map[string]string) {
	t.Helper()
	var b strings.Builder
	for file, sum := range sums {
		fmt.Fprintf(&b, "%s  %s\n", sum, file)
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// control sets what the flaky plugin does (see testplugins/flaky).
type control string

func (c control) set(t *testing.T, words string) {
	t.Helper()
	if err := os.WriteFile(string(c), []byte(words), 0o644); err != nil {
		t.Fatal(err)
	}
}

// flakyHub starts a hub whose plugin directory holds the flaky plugin.
func flakyHub(t *testing.T, env map[string]string) (*hubProc, string, control) {
	t.Helper()
	dir := t.TempDir()
	installPlugin(t, dir, "testplugins/flaky", "flaky")
	ctl := control(filepath.Join(t.TempDir(), "control"))
	ctl.set(t, "ok")
	e := map[string]string{"HUB_PLUGIN_DIR": dir, "FLAKY_CONTROL": string(ctl)}
	for k, v := range env {
		e[k] = v
	}
	return startHub(t, nil, hubOpts{backend: "sqlite", env: e}), dir, ctl
}

const flakySecret = "flaky-secret-0001"

func connectFlaky(t *testing.T, h *hubProc, provider string) {
	t.Helper()
	if res := h.do(alice, "POST", "/"+provider, map[string]any{"token": "good-" + provider}); res.Status != 200 {
		t.Fatalf("connect %s = %d %s", provider, res.Status, res.Body)
	}
	if res := h.do(alice, "PUT", "/"+provider+"/webhook-secret", map[string]any{"secret": flakySecret}); res.Status != 200 {
		t.Fatalf("PUT secret = %d %s", res.Status, res.Body)
	}
}

func (h *hubProc) flakyWebhook(provider, id string) response {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.URL+"/"+provider+"/webhook/"+alice.user, strings.NewReader(`{"id":"`+id+`","title":"Flaky `+id+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Flaky-Secret", flakySecret)
	return doRequest(h.t, req)
}

// health returns /healthz's entry for the plugin named name (nil if absent).
func (h *hubProc) health(name string) map[string]any {
	h.t.Helper()
	req := mustRequest(h.t, "GET", h.URL+"/healthz")
	req.Header.Set("X-Internal-Secret", internalSecret) // plugin details need the management secret
	res := doRequest(h.t, req)
	list, _ := res.JSON["plugins"].([]any)
	for _, p := range list {
		if m := p.(map[string]any); m["name"] == name {
			return m
		}
	}
	return nil
}

func (h *hubProc) waitHealth(name, what string, cond func(map[string]any) bool) map[string]any {
	h.t.Helper()
	var last map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if last = h.health(name); last != nil && cond(last) {
			return last
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %s %s; last health %v\n%s", name, what, last, h.Logs())
	return nil
}

func isState(s string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["state"] == s }
}

func retryAfterSet(r response) bool { return r.Header.Get("Retry-After") != "" }

// logLine reports whether one line of the hub's log contains all of parts.
func logLine(h *hubProc, parts ...string) bool {
next:
	for _, line := range strings.Split(h.Logs(), "\n") {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		return true
	}
	return false
}

// TestPluginCrashLosesNoWebhook: PagerDuty's plugin is killed (SIGKILL)
// while PagerDuty delivers; deliveries meanwhile get 503 with Retry-After,
// PagerDuty retries, and every incident arrives once the host has restarted
// the plugin.
func TestPluginCrashLosesNoWebhook(t *testing.T) {
	sim := startSimWith(t, pdsim.Options{WebhookMaxAttempts: 10})
	seedAccount(sim)
	addr := freePort(t)
	h := startHub(t, sim, hubOpts{backend: "sqlite", env: map[string]string{"HUB_LISTEN": addr, "NEXT_PUBLIC_BACKEND_URL": "http://" + addr}})
	connectWithSecret(t, h, "")
	if res := h.do(alice, "POST", "/pagerduty/webhook-subscription", map[string]any{"scope": map[string]any{"type": "service", "id": "PSVC001"}}); res.Status != 201 {
		t.Fatalf("create subscription = %d %s", res.Status, res.Body)
	}
	first := sim.AddIncident(pdsim.Incident{Title: "Before the crash", ServiceID: "PSVC001", Urgency: "high"})
	if err := sim.EmitIncidentEvent(ctxT(t), "incident.triggered", first.ID); err != nil {
		t.Fatal(err)
	}
	h.incidentBySource(alice, first.ID, func(map[string]any) bool { return true })

	pids := h.pluginPIDs()
	if len(pids) != 1 {
		t.Fatalf("plugin processes = %v", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	const n = 4
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		inc := sim.AddIncident(pdsim.Incident{Title: fmt.Sprint("During the restart ", i), ServiceID: "PSVC001", Urgency: "high"})
		ids[i] = inc.ID
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = sim.EmitIncidentEvent(ctxT(t), "incident.triggered", inc.ID) }()
	}
	// A delivery while the plugin is down answers 503 with Retry-After.
	var down response
	waitFor(t, "a 503 while the plugin is down", 10*time.Second, func() bool {
		down = h.webhook(alice.user, []byte(`{}`))
		return down.Status == 503
	})
	if !retryAfterSet(down) {
		t.Fatalf("503 without Retry-After: %v %s", down.Header, down.Body)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("deliveries failed: %v", err)
	}
	retried := 0
	for _, d := range sim.Deliveries() {
		for _, a := range d.Attempts {
			if a.StatusCode == 503 {
				retried++
			}
		}
	}
	if retried == 0 {
		t.Fatal("no delivery met the restart: the test proved nothing")
	}
	for _, id := range ids {
		h.incidentBySource(alice, id, func(map[string]any) bool { return true })
	}
	if got := len(h.incidents(alice)); got != n+1 {
		t.Fatalf("%d incidents, want %d", got, n+1)
	}
	p := h.waitHealth("pagerduty", "running again", isState("running"))
	if p["restarts"] != float64(1) || p["lastError"] != "plugin process exited" {
		t.Fatalf("health after the restart = %v", p)
	}
	if pids2 := h.pluginPIDs(); len(pids2) != 1 || pids2[0] == pids[0] {
		t.Fatalf("plugin processes after restart = %v (before %v)", pids2, pids)
	}
	if !strings.Contains(h.Logs(), "restarting plugin") {
		t.Error("the restart is not in the logs")
	}
}

// TestHungPluginIsTimedOut: webhook calls to a plugin that never answers
// end at the deadline with 503 + Retry-After, and the timeouts restart it.
// The plugin's own log lines reach the hub's log, tagged with its name.
func TestHungPluginIsTimedOut(t *testing.T) {
	h, _, ctl := flakyHub(t, map[string]string{"HUB_PLUGIN_WEBHOOK_TIMEOUT": "1s", "HUB_PLUGIN_RESTART_BACKOFF": "200ms"})
	connectFlaky(t, h, "flaky")
	if res := h.flakyWebhook("flaky", "F1"); res.Status != 202 {
		t.Fatalf("webhook = %d %s", res.Status, res.Body)
	}
	waitFor(t, "the plugin's log line in the hub's log", 5*time.Second, func() bool {
		return logLine(h, "webhook handled", `"plugin":"flaky"`)
	})
	before := h.pluginPIDs()

	ctl.set(t, "hang")
	var wg sync.WaitGroup
	res := make([]response, 2)
	elapsed := make([]time.Duration, 2)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			res[i] = h.flakyWebhook("flaky", fmt.Sprint("H", i))
			elapsed[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for i, r := range res {
		if r.Status != 503 || !retryAfterSet(r) {
			t.Fatalf("hung call %d = %d %v %s", i, r.Status, r.Header, r.Body)
		}
		if elapsed[i] < time.Second || elapsed[i] > 5*time.Second {
			t.Fatalf("hung call %d took %s", i, elapsed[i])
		}
	}
	p := h.waitHealth("flaky", "restarted", func(m map[string]any) bool { return m["state"] == "running" && m["restarts"] == float64(1) })
	if !strings.Contains(p["lastError"].(string), "timed out") {
		t.Fatalf("health = %v", p)
	}
	waitFor(t, "the hung process to be gone", 10*time.Second, func() bool { return !processAlive(before[0]) })
	ctl.set(t, "ok")
	if res := h.flakyWebhook("flaky", "F2"); res.Status != 202 {
		t.Fatalf("webhook after restart = %d %s", res.Status, res.Body)
	}
	// Without the provisioning capability, the status does not point to it.
	if res := h.do(alice, "DELETE", "/flaky/webhook-secret", nil); res.Status != 200 {
		t.Fatalf("DELETE secret = %d %s", res.Status, res.Body)
	}
	st := h.do(alice, "GET", "/flaky", nil)
	if w := string(st.Body); !strings.Contains(w, "PUT /flaky/webhook-secret") || strings.Contains(w, "webhook-subscription") {
		t.Fatalf("status = %s", st.Body)
	}
}

// TestFrozenPluginFailsHealthCheck: a plugin that stops answering anything
// (SIGSTOP) fails its health checks and is replaced.
func TestFrozenPluginFailsHealthCheck(t *testing.T) {
	h, _, _ := flakyHub(t, map[string]string{"HUB_PLUGIN_HEALTH_INTERVAL": "200ms", "HUB_PLUGIN_HEALTH_TIMEOUT": "300ms", "HUB_PLUGIN_RESTART_BACKOFF": "200ms"})
	pids := h.pluginPIDs()
	if len(pids) != 1 {
		t.Fatalf("plugin processes = %v", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	p := h.waitHealth("flaky", "restarted", func(m map[string]any) bool { return m["state"] == "running" && m["restarts"] == float64(1) })
	if !strings.Contains(p["lastError"].(string), "health check failed") {
		t.Fatalf("health = %v", p)
	}
	waitFor(t, "the frozen process to be killed", 10*time.Second, func() bool { return !processAlive(pids[0]) })
}

// TestCrashingPluginIsDisabled: a plugin that crashes and then cannot start
// is restarted with backoff, then disabled; a SIGHUP tries again.
func TestCrashingPluginIsDisabled(t *testing.T) {
	h, _, ctl := flakyHub(t, map[string]string{"HUB_PLUGIN_RESTART_BACKOFF": "100ms", "HUB_PLUGIN_MAX_RESTARTS": "2"})
	connectFlaky(t, h, "flaky")
	ctl.set(t, "crash,die")
	if res := h.flakyWebhook("flaky", "C1"); res.Status != 503 || !retryAfterSet(res) {
		t.Fatalf("webhook to a crashing plugin = %d %v %s", res.Status, res.Header, res.Body)
	}
	p := h.waitHealth("flaky", "disabled", isState("disabled"))
	if p["restarts"] != float64(2) || !strings.Contains(p["error"].(string), "disabled after 2 restarts") {
		t.Fatalf("health = %v", p)
	}
	if res := doRequest(t, mustRequest(t, "GET", h.URL+"/healthz")); res.Status != 503 || res.JSON["status"] != "degraded" {
		t.Fatalf("healthz with a disabled plugin = %d %s", res.Status, res.Body)
	}
	if res := h.flakyWebhook("flaky", "C2"); res.Status != 503 || !retryAfterSet(res) {
		t.Fatalf("webhook to a disabled plugin = %d %s", res.Status, res.Body)
	}
	if !strings.Contains(h.Logs(), "plugin disabled: too many restarts") {
		t.Error("disabling is not in the logs")
	}
	ctl.set(t, "ok")
	h.Signal(syscall.SIGHUP)
	h.waitHealth("flaky", "running after SIGHUP", isState("running"))
	if res := h.flakyWebhook("flaky", "C3"); res.Status != 202 {
		t.Fatalf("webhook after SIGHUP = %d %s", res.Status, res.Body)
	}
}

// TestProtocolMismatchIsRefused: plugins speaking another protocol version,
// whether they say so in describe or only at the handshake, are refused
// with a clear reason, listed in /healthz, and leave no process behind. A
// call the plugin does not implement is an absent capability (404).
func TestProtocolMismatchIsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"proto2", "handshake2", "handshake0", "legacy"} {
		installPlugin(t, dir, "testplugins/raw", name)
	}
	h := startHub(t, nil, hubOpts{backend: "sqlite", env: map[string]string{"HUB_PLUGIN_DIR": dir}})
	for name, want := range map[string]string{
		"proto2":     "plugin speaks protocol version 2, this hub speaks [1]",
		"handshake2": "protocol version refused at handshake (incompatible API version with plugin. Plugin version: 2, Client versions: [1])",
		"handshake0": "protocol version refused at handshake (incompatible API version with plugin. Plugin version: 0, Client versions: [1])",
	} {
		p := h.health(name)
		if p == nil || p["state"] != "refused" || !strings.HasPrefix(p["error"].(string), want) {
			t.Errorf("%s health = %v, want refused: %s", name, p, want)
		}
		if res := h.do(alice, "GET", "/"+name, nil); res.Status != 503 || !strings.Contains(string(res.Body), "unavailable: refused") {
			t.Errorf("GET /%s = %d %s", name, res.Status, res.Body)
		}
		if !logLine(h, "plugin refused", `"plugin":"`+name+`"`) {
			t.Errorf("no log line says %s was refused", name)
		}
	}
	if pids := h.pluginPIDs(); len(pids) != 1 {
		t.Errorf("plugin processes = %v, want only legacy's", pids)
	}
	if p := h.health("legacy"); p["state"] != "running" {
		t.Fatalf("legacy health = %v", p)
	}
	if res := h.do(alice, "POST", "/legacy", map[string]any{"token": "anything"}); res.Status != 200 {
		t.Fatalf("connect legacy = %d %s", res.Status, res.Body)
	}
	res := h.do(alice, "POST", "/legacy/webhook-subscription", nil)
	if res.Status != 404 || res.JSON["error"] != "Provider legacy does not implement provisioning" {
		t.Fatalf("unimplemented call = %d %s", res.Status, res.Body)
	}
}

// TestChecksums: SHA256SUMS pins binaries; a mismatch is refused, and with
// HUB_PLUGIN_REQUIRE_CHECKSUM so is an unpinned binary.
func TestChecksums(t *testing.T) {
	dir := t.TempDir()
	flaky := installPlugin(t, dir, "testplugins/flaky", "flaky")
	installPlugin(t, dir, "plugins/aurora-plugin-pagerduty", "pagerduty")
	installPlugin(t, dir, "testplugins/flaky", "unpinned")
	writeSums(t, dir, map[string]string{
		"aurora-plugin-flaky":     sha256Of(t, flaky),
		"aurora-plugin-pagerduty": strings.Repeat("ab", 32),
	})
	h := startHub(t, nil, hubOpts{backend: "sqlite", env: map[string]string{"HUB_PLUGIN_DIR": dir}})
	if p := h.health("flaky"); p["state"] != "running" || p["checksum"] != "verified" {
		t.Errorf("pinned flaky = %v", p)
	}
	if p := h.health("unpinned"); p["state"] != "running" || p["checksum"] != "unpinned" {
		t.Errorf("unpinned = %v", p)
	}
	if p := h.health("pagerduty"); p["state"] != "refused" || p["checksum"] != "mismatch" || !strings.HasPrefix(p["error"].(string), "checksum mismatch") {
		t.Errorf("mismatching pagerduty = %v", p)
	}
	if !strings.Contains(h.Logs(), "plugin binary is not pinned") {
		t.Error("no warning for the unpinned binary")
	}
	if pids := h.pluginPIDs(); len(pids) != 2 {
		t.Errorf("plugin processes = %v, want 2", pids)
	}
	h.stop()

	h = startHub(t, nil, hubOpts{backend: "sqlite", env: map[string]string{"HUB_PLUGIN_DIR": dir, "HUB_PLUGIN_REQUIRE_CHECKSUM": "true"}})
	if p := h.health("unpinned"); p["state"] != "refused" || !strings.Contains(p["error"].(string), "not pinned in SHA256SUMS and HUB_PLUGIN_REQUIRE_CHECKSUM=true") {
		t.Errorf("unpinned with HUB_PLUGIN_REQUIRE_CHECKSUM = %v", p)
	}
	if p := h.health("flaky"); p["state"] != "running" {
		t.Errorf("pinned flaky = %v", p)
	}
}

// runHubCommand runs `aurora-hub args...` against a plugin directory.
func runHubCommand(t *testing.T, env map[string]string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "aurora-hub"), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func TestPluginsListAndVerify(t *testing.T) {
	dir := t.TempDir()
	flaky := installPlugin(t, dir, "testplugins/flaky", "flaky")
	pd := installPlugin(t, dir, "plugins/aurora-plugin-pagerduty", "pagerduty")
	env := map[string]string{"HUB_PLUGIN_DIR": dir}

	out, code := runHubCommand(t, env, "plugins", "list")
	if code != 0 || !strings.Contains(out, "CHECKSUM") {
		t.Fatalf("list = %d\n%s", code, out)
	}
	for _, want := range []string{"flaky", "1.0.0", "auth,webhooks", "unpinned", flaky, pd} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if out, code := runHubCommand(t, env, "plugins", "verify"); code != 0 {
		t.Fatalf("verify of unpinned plugins = %d\n%s", code, out)
	}
	env["HUB_PLUGIN_REQUIRE_CHECKSUM"] = "true"
	if out, code := runHubCommand(t, env, "plugins", "verify"); code != 1 || !strings.Contains(out, "REFUSED  flaky: aurora-plugin-flaky is not pinned") {
		t.Fatalf("verify with HUB_PLUGIN_REQUIRE_CHECKSUM = %d\n%s", code, out)
	}
	writeSums(t, dir, map[string]string{"aurora-plugin-flaky": sha256Of(t, flaky), "aurora-plugin-pagerduty": sha256Of(t, pd)})
	if out, code := runHubCommand(t, env, "plugins", "verify"); code != 0 || !strings.Contains(out, "checksum verified") {
		t.Fatalf("verify of pinned plugins = %d\n%s", code, out)
	}
	installPlugin(t, dir, "testplugins/flaky", "flaky", []byte("tampered")...)
	if out, code := runHubCommand(t, env, "plugins", "verify"); code != 1 || !strings.Contains(out, "REFUSED  flaky: checksum mismatch") {
		t.Fatalf("verify of a tampered plugin = %d\n%s", code, out)
	}
	os.Remove(filepath.Join(dir, "SHA256SUMS"))
	installPlugin(t, dir, "testplugins/raw", "proto2")
	delete(env, "HUB_PLUGIN_REQUIRE_CHECKSUM")
	if out, code := runHubCommand(t, env, "plugins", "verify"); code != 1 || !strings.Contains(out, "REFUSED  proto2: plugin speaks protocol version 2") {
		t.Fatalf("verify of a protocol 2 plugin = %d\n%s", code, out)
	}
}

// TestReloadOnSIGHUP: SIGHUP starts a new binary, swaps in a changed one
// (the old process finishes its call in flight first) and stops a removed
// one, while requests keep being answered.
func TestReloadOnSIGHUP(t *testing.T) {
	h, dir, ctl := flakyHub(t, nil)
	connectFlaky(t, h, "flaky")
	old := h.pluginPIDs()
	oldSum := h.health("flaky")["sha256"]

	ctl.set(t, "slow=4s")
	inflight := make(chan response, 1)
	go func() { inflight <- h.flakyWebhook("flaky", "R1") }()
	waitFor(t, "the slow call to reach the plugin", 10*time.Second, func() bool {
		return strings.Contains(h.Logs(), "webhook received")
	})

	installPlugin(t, dir, "testplugins/flaky", "fresh")
	installPlugin(t, dir, "testplugins/flaky", "flaky", []byte("v2")...)
	h.Signal(syscall.SIGHUP)
	h.waitHealth("fresh", "running", isState("running"))
	p := h.waitHealth("flaky", "swapped", func(m map[string]any) bool { return m["state"] == "running" && m["sha256"] != oldSum })
	if p["restarts"] != float64(0) {
		t.Fatalf("flaky after reload = %v", p)
	}
	select {
	case r := <-inflight:
		t.Fatalf("the call in flight ended before the test could look: %d %s", r.Status, r.Body)
	default:
	}
	if !processAlive(old[0]) {
		t.Fatal("the old process was killed with a call in flight")
	}
	if r := <-inflight; r.Status != 202 {
		t.Fatalf("call in flight across the reload = %d %s", r.Status, r.Body)
	}
	waitFor(t, "the old process to stop once drained", 10*time.Second, func() bool { return !processAlive(old[0]) })
	ctl.set(t, "ok")
	if r := h.flakyWebhook("flaky", "R2"); r.Status != 202 {
		t.Fatalf("call to the new process = %d %s", r.Status, r.Body)
	}
	connectFlaky(t, h, "fresh")
	if r := h.flakyWebhook("fresh", "N1"); r.Status != 202 {
		t.Fatalf("call to the new plugin = %d %s", r.Status, r.Body)
	}

	os.Remove(filepath.Join(dir, "aurora-plugin-fresh"))
	h.Signal(syscall.SIGHUP)
	waitFor(t, "fresh to be unmounted", 10*time.Second, func() bool { return h.health("fresh") == nil })
	if r := h.flakyWebhook("fresh", "N2"); r.Status != 404 {
		t.Fatalf("call to a removed plugin = %d %s", r.Status, r.Body)
	}
	waitFor(t, "one plugin process", 10*time.Second, func() bool { return len(h.pluginPIDs()) == 1 })
}

// TestWebhookHeadersWithInvalidUTF8: protobuf refuses invalid UTF-8 in
// strings; the hub sanitises header names and values instead of answering 503.
func TestWebhookHeadersWithInvalidUTF8(t *testing.T) {
	sim := startSim(t)
	seedAccount(sim)
	h := startHub(t, sim, hubOpts{backend: "sqlite"})
	connectWithSecret(t, h, whSecret)
	body := incidentBody("incident.triggered", "PUTF801", time.Now(), nil)
	req, err := pdsim.NewWebhookRequest(ctxT(t), h.URL+"/pagerduty/webhook/"+alice.user, body, whSecret)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Webhook-Id", "wh-utf8-1")
	req.Header.Set("X-Junk", "caf\xe9 \xff\xfe")
	if res := doRequest(t, req); res.Status != 202 {
		t.Fatalf("webhook with an invalid UTF-8 header value = %d %s", res.Status, res.Body)
	}
	// A header name with invalid UTF-8 needs a raw request.
	body = incidentBody("incident.triggered", "PUTF802", time.Now(), nil)
	var raw bytes.Buffer
	fmt.Fprintf(&raw, "POST /pagerduty/webhook/%s HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n", alice.user)
	fmt.Fprintf(&raw, "X-Pagerduty-Signature: %s\r\nX-Webhook-Id: wh-utf8-2\r\nX-Bad\xff\xfeName: v\r\n", pdsim.SignatureHeader(body, whSecret))
	fmt.Fprintf(&raw, "Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write(raw.Bytes())
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 202 {
		t.Fatalf("webhook with an invalid UTF-8 header name = %d %s", res.StatusCode, b)
	}
	for _, id := range []string{"PUTF801", "PUTF802"} {
		h.incidentBySource(alice, id, func(map[string]any) bool { return true })
	}
}
