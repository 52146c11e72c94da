package deploycheck

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub/config"
	"go.yaml.in/yaml/v3"
)

const root = "../.."

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// instructions splits a Dockerfile into instructions, continuation lines
// joined and comments dropped.
func instructions(src string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// TestDockerfile checks the final stage: non-root, plugins pinned and
// required, the hub as entry point.
func TestDockerfile(t *testing.T) {
	ins := instructions(read(t, "Dockerfile"))
	var final []string
	for _, in := range ins {
		if strings.HasPrefix(in, "FROM ") {
			final = nil
		}
		final = append(final, in)
	}
	joined := strings.Join(final, "\n")
	for _, want := range []string{
		"USER 65532:65532",
		"HUB_PLUGIN_DIR=/usr/lib/aurora-hub/plugins",
		"HUB_PLUGIN_REQUIRE_CHECKSUM=true",
		`ENTRYPOINT ["/usr/bin/aurora-hub"]`,
		"STOPSIGNAL SIGTERM",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("final stage lacks %q", want)
		}
	}
	if !strings.HasPrefix(final[0], "FROM gcr.io/distroless/static") {
		t.Errorf("final stage is %q, want distroless/static", final[0])
	}
	if strings.Contains(joined, "HUB_ENCRYPTION_KEY") || strings.Contains(joined, "INTERNAL_API_SECRET=") {
		t.Error("a secret is baked into the image")
	}
}

// TestDockerfileCopiesEveryModule checks that every module of go.work has
// its go.mod (and go.sum, when it has one) copied before `go mod download`:
// the workspace does not load with a listed module missing.
func TestDockerfileCopiesEveryModule(t *testing.T) {
	out, err := exec.Command("go", "work", "edit", "-json", filepath.Join(root, "go.work")).Output()
	if err != nil {
		t.Fatalf("go work edit -json: %v", err)
	}
	var work struct{ Use []struct{ DiskPath string } }
	if err := json.Unmarshal(out, &work); err != nil {
		t.Fatalf("go work edit -json: %v", err)
	}
	if len(work.Use) == 0 {
		t.Fatal("go.work lists no module")
	}
	copied := map[string]bool{}
	download := false
	for _, in := range instructions(read(t, "Dockerfile")) {
		if strings.HasPrefix(in, "RUN ") && strings.Contains(in, "go mod download") {
			download = true
			break
		}
		if rest, ok := strings.CutPrefix(in, "COPY "); ok {
			for _, f := range strings.Fields(rest) {
				copied[f] = true
			}
		}
	}
	if !download {
		t.Fatal("the Dockerfile runs no `go mod download`")
	}
	for _, u := range work.Use {
		dir := filepath.ToSlash(filepath.Clean(u.DiskPath))
		files := []string{"go.mod", "go.sum"}
		if _, err := os.Stat(filepath.Join(root, dir, "go.sum")); os.IsNotExist(err) {
			files = files[:1] // a module without requirements has no go.sum
		}
		for _, f := range files {
			if !copied[dir+"/"+f] {
				t.Errorf("module %s: %s/%s is not copied before `go mod download`", dir, dir, f)
			}
		}
	}
}

// TestDockerfileBuildCommands runs the Dockerfile's build step as written
// (its /out tree moved to a temporary directory): the binaries must be
// static, and the plugins pinned in SHA256SUMS and accepted with checksums
// required (the step runs `aurora-hub plugins verify` itself).
func TestDockerfileBuildCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds four binaries")
	}
	src := read(t, "Dockerfile")
	begin, end := strings.Index(src, "# BUILD BEGIN"), strings.Index(src, "# BUILD END")
	if begin < 0 || end < begin {
		t.Fatal("Dockerfile lacks the # BUILD BEGIN / # BUILD END markers")
	}
	ins := instructions(src[begin:end])
	if len(ins) != 1 || !strings.HasPrefix(ins[0], "RUN ") {
		t.Fatalf("want one RUN between the markers, got %q", ins)
	}
	script := strings.TrimPrefix(ins[0], "RUN ")
	for strings.HasPrefix(script, "--") { // BuildKit flags such as --mount=...
		script = strings.TrimSpace(script[strings.IndexByte(script, ' '):])
	}
	// The stage's ENV lines apply to the RUN.
	env := os.Environ()
	for _, in := range instructions(src[:begin]) {
		if rest, ok := strings.CutPrefix(in, "ENV "); ok {
			env = append(env, strings.Fields(rest)...)
		}
	}
	out := t.TempDir()
	script = strings.ReplaceAll(script, "/out/", out+"/")
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = root
	cmd.Env = append(env, "VERSION=deploycheck")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build step failed: %v\n%s", err, b)
	} else if !bytes.Contains(b, []byte("ok       pagerduty")) || !bytes.Contains(b, []byte("checksum verified")) {
		t.Errorf("plugins verify did not accept the pinned pagerduty plugin:\n%s", b)
	}
	for _, bin := range []string{"usr/bin/aurora-hub", "usr/bin/pagerduty-sim", "usr/lib/aurora-hub/plugins/aurora-plugin-pagerduty", "usr/lib/aurora-hub/plugins/aurora-plugin-alertmanager"} {
		f, err := elf.Open(filepath.Join(out, bin))
		if err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s is dynamically linked", bin)
			}
		}
		f.Close()
	}
	sums, err := os.ReadFile(filepath.Join(out, "usr/lib/aurora-hub/plugins/SHA256SUMS"))
	if err != nil || !bytes.Contains(sums, []byte("aurora-plugin-pagerduty")) || !bytes.Contains(sums, []byte("aurora-plugin-alertmanager")) {
		t.Fatalf("SHA256SUMS = %q, %v", sums, err)
	}
	if fi, err := os.Stat(filepath.Join(out, "var/lib/aurora-hub")); err != nil || !fi.IsDir() {
		t.Errorf("state directory not prepared: %v", err)
	}
}

// TestComposeFile checks the demo's structure and validates each hub's
// environment with the hub's own configuration parser; `docker compose
// config` (or docker-compose) validates the file too where installed.
func TestComposeFile(t *testing.T) {
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     any               `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			DependsOn   map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Healthcheck     map[string]any `yaml:"healthcheck"`
			StopGracePeriod string         `yaml:"stop_grace_period"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(read(t, "deploy/compose.yaml")), &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"postgres", "pagerduty-sim", "hub-1", "hub-2"} {
		if _, ok := doc.Services[s]; !ok {
			t.Fatalf("service %s missing", s)
		}
	}
	if doc.Services["postgres"].Healthcheck == nil {
		t.Error("postgres has no healthcheck for the hubs to wait on")
	}
	cmdline := strings.Join(toStrings(doc.Services["postgres"].Command), " ")
	maxConns := 0
	if m := regexp.MustCompile(`max_connections=(\d+)`).FindStringSubmatch(cmdline); m != nil {
		maxConns, _ = strconv.Atoi(m[1])
	}
	if maxConns < 2*20+10 { // two replicas' pools of 20, and room for psql
		t.Errorf("postgres max_connections = %d (%q): too few for 2 replicas x 20 connections", maxConns, cmdline)
	}
	keys := map[string]bool{}
	for _, name := range []string{"hub-1", "hub-2"} {
		s := doc.Services[name]
		if s.DependsOn["postgres"].Condition != "service_healthy" {
			t.Errorf("%s does not wait for a healthy postgres", name)
		}
		if s.StopGracePeriod == "" {
			t.Errorf("%s has no stop_grace_period for the graceful shutdown", name)
		}
		cfg, err := config.FromEnv(s.Environment)
		if err != nil {
			t.Fatalf("%s: the hub would refuse this environment: %v", name, err)
		}
		if cfg.Driver != "postgres" || len(cfg.EncryptionKey) != 32 {
			t.Errorf("%s: driver %s, key %d bytes", name, cfg.Driver, len(cfg.EncryptionKey))
		}
		keys[s.Environment["HUB_ENCRYPTION_KEY"]] = true
	}
	if len(keys) != 1 {
		t.Error("the replicas must share one HUB_ENCRYPTION_KEY")
	}
	for _, tool := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		if _, err := exec.LookPath(tool[0]); err != nil {
			continue
		}
		if exec.Command(tool[0], append(tool[1:], "version")...).Run() != nil {
			continue // docker without the compose plugin
		}
		args := append(tool[1:], "-f", filepath.Join(root, "deploy/compose.yaml"), "config", "-q")
		out, err := exec.Command(tool[0], args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s config: %v\n%s", strings.Join(tool, " "), err, out)
		}
		t.Logf("validated with %s config", strings.Join(tool, " "))
		break
	}
}

func toStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return strings.Fields(x)
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// TestSystemdUnit checks the unit's hardening and its hub settings, and
// runs `systemd-analyze verify` on it where systemd is installed (with
// ExecStart pointed at a stand-in executable, which verify requires).
func TestSystemdUnit(t *testing.T) {
	unit := read(t, "deploy/systemd/aurora-hub.service")
	directives := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			directives[k] = append(directives[k], v)
		}
	}
	for k, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"DynamicUser": "yes", "StateDirectory": "aurora-hub", "KillSignal": "SIGTERM", "CapabilityBoundingSet": "",
		"ExecStart": "/usr/bin/aurora-hub serve", "ExecReload": "/bin/kill -HUP $MAINPID",
	} {
		if got := directives[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	env := map[string]string{
		"HUB_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(make([]byte, 32)), // from EnvironmentFile
	}
	for _, e := range directives["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	cfg, err := config.FromEnv(env)
	if err != nil {
		t.Fatalf("the hub would refuse the unit's environment: %v", err)
	}
	if cfg.SQLitePath != "/var/lib/aurora-hub/hub.db" || cfg.PluginDir != "/usr/lib/aurora-hub/plugins" {
		t.Errorf("database %s, plugins %s: want them under StateDirectory and /usr/lib/aurora-hub", cfg.SQLitePath, cfg.PluginDir)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed; the static checks above ran")
	}
	dir := t.TempDir()
	stand := filepath.Join(dir, "aurora-hub")
	if err := os.WriteFile(stand, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "aurora-hub.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/bin/aurora-hub", stand)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	for _, bad := range []string{"Unknown", "ignoring", "Failed to parse", "Invalid", "not executable"} {
		if bytes.Contains(out, []byte(bad)) {
			t.Fatalf("systemd-analyze verify: %s", out)
		}
	}
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
