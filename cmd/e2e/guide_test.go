package e2e

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// guideBlock matches a block of docs/writing-a-plugin.md the guide marks for
// this test: <!-- guide:setup -->, <!-- guide:build --> or
// <!-- guide:file NAME -->, then a fenced code block.
var guideBlock = regexp.MustCompile("(?s)<!-- guide:(\\w+)(?: ([\\w.]+))? -->\\s*```\\w*\\n(.*?)```")

// TestGuideBuildsOutOfTree follows docs/writing-a-plugin.md the way a
// newcomer does: in a temporary directory outside this workspace, it runs
// the guide's module commands against the local sdk/, writes the guide's
// main.go and main_test.go, runs its build commands (go mod tidy through
// the module proxy, vet, the conformance suite, build, describe), then
// serves the binary from a real hub: connect without credentials, a
// malformed secret refused, a delivery accepted and turned into an incident.
func TestGuideBuildsOutOfTree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module from scratch")
	}
	guide, err := os.ReadFile(filepath.Join("..", "..", "docs", "writing-a-plugin.md"))
	if err != nil {
		t.Fatal(err)
	}
	sdkDir, err := filepath.Abs(filepath.Join("..", "..", "sdk"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	for _, m := range guideBlock.FindAllSubmatch(guide, -1) {
		key := string(m[1])
		if len(m[2]) > 0 {
			key += " " + string(m[2])
		}
		blocks[key] = string(m[3])
	}
	for _, want := range []string{"setup", "build", "file main.go", "file main_test.go"} {
		if blocks[want] == "" {
			t.Fatalf("the guide has no %q block (found %d blocks)", want, len(blocks))
		}
	}
	root := t.TempDir()
	if strings.HasPrefix(root, filepath.Dir(sdkDir)) {
		t.Fatalf("temporary directory %s is inside the workspace", root)
	}
	env := append(os.Environ(), "AURORA_SDK="+sdkDir, "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false")
	run := func(dir, script string) string {
		t.Helper()
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("in %s:\n%s\nfailed: %v\n%s", dir, script, err, out)
		}
		return string(out)
	}
	run(root, blocks["setup"])
	dir := filepath.Join(root, "hello")
	for _, name := range []string{"main.go", "main_test.go"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(blocks["file "+name]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := run(dir, blocks["build"])
	for _, want := range []string{`"name": "hello"`, `"webhooks"`, `"webhook_secrets"`, `"connect_without_credentials": true`, "ok  \texample.com/hello"} {
		if !strings.Contains(out, want) {
			t.Errorf("the guide's build output lacks %q:\n%s", want, out)
		}
	}

	// The binary the guide built, served by the real hub.
	plugins := t.TempDir()
	bin, err := os.ReadFile(filepath.Join(dir, "aurora-plugin-hello"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "aurora-plugin-hello"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, nil, hubOpts{backend: "sqlite", env: map[string]string{"HUB_PLUGIN_DIR": plugins}})
	if res := h.do(alice, "POST", "/hello", nil); res.Status != 200 || res.JSON["connected"] != true {
		t.Fatalf("connect = %d %s", res.Status, res.Body)
	}
	if res := h.do(alice, "PUT", "/hello/webhook-secret", map[string]any{"secret": "bearer:short"}); res.Status != 400 {
		t.Fatalf("short secret = %d %s, want 400", res.Status, res.Body)
	}
	const token = "hello-e2e-token-0123456789"
	if res := h.do(alice, "PUT", "/hello/webhook-secret", map[string]any{"secret": "bearer:" + token}); res.Status != 200 {
		t.Fatalf("secret = %d %s", res.Status, res.Body)
	}
	if res := h.do(alice, "GET", "/hello/webhook-url", nil); !strings.Contains(string(res.Body), "In Hello, add a webhook to http") {
		t.Fatalf("webhook-url = %s", res.Body)
	}
	body := []byte(`{"id": "guide-1", "title": "Disk full", "status": "open", "severity": "critical", "service": "db"}`)
	req, _ := http.NewRequest("POST", h.URL+"/hello/webhook/"+alice.user, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if res := doRequest(t, req); res.Status != 202 {
		t.Fatalf("webhook = %d %s", res.Status, res.Body)
	}
	inc := h.incidentBySource(alice, "guide-1", func(m map[string]any) bool { return m["severity"] == "critical" })
	if alert, _ := inc["alert"].(map[string]any); inc["sourceType"] != "hello" || alert["title"] != "Disk full" || alert["service"] != "db" {
		t.Fatalf("incident = %v", inc)
	}
}
