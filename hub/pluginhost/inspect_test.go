package pluginhost

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// script writes an executable that prints manifest on `describe`.
func script(t *testing.T, dir, name, manifest string) Candidate {
	t.Helper()
	path := filepath.Join(dir, BinaryPrefix+name)
	body := fmt.Sprintf("#!/bin/sh\ncat <<'EOF'\n%s\nEOF\n", manifest)
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return Candidate{Name: name, Path: path}
}

func sum(t *testing.T, path string) string {
	t.Helper()
	s, err := FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseSums(t *testing.T) {
	a, b := strings.Repeat("ab", 32), strings.Repeat("CD", 32)
	s, err := ParseSums([]byte("# pins\n" + a + "  aurora-plugin-a\n" + b + " *./aurora-plugin-b\n\n" + a + "  other/dir/file\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 2 || s["aurora-plugin-a"] != a || s["aurora-plugin-b"] != strings.ToLower(b) {
		t.Fatalf("sums = %v", s)
	}
	for _, bad := range []string{"nothex  aurora-plugin-a\n", a + "aurora-plugin-a\n", "abcd  aurora-plugin-a\n", a + "  x\n" + b + "  x\n"} {
		if _, err := ParseSums([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	good := `{"name":"good","version":"1.2.3","protocol_version":1,"capabilities":["webhooks"],"config_keys":["GOOD_URL"]}`
	c := script(t, dir, "good", good)
	ctx := context.Background()

	ch := Inspect(ctx, c, Sums{}, false)
	if ch.Err != nil || ch.Checksum != ChecksumUnpinned || ch.Manifest.Version != "1.2.3" || ch.SHA256 != sum(t, c.Path) {
		t.Fatalf("unpinned = %+v", ch)
	}
	if ch := Inspect(ctx, c, Sums{}, true); !IsRefusal(ch.Err) || !strings.Contains(ch.Err.Error(), "not pinned") {
		t.Fatalf("unpinned with HUB_PLUGIN_REQUIRE_CHECKSUM = %v", ch.Err)
	}
	pinned := Sums{BinaryPrefix + "good": sum(t, c.Path)}
	if ch := Inspect(ctx, c, pinned, true); ch.Err != nil || ch.Checksum != ChecksumVerified {
		t.Fatalf("pinned = %+v", ch)
	}
	wrong := Sums{BinaryPrefix + "good": strings.Repeat("0", 64)}
	if ch := Inspect(ctx, c, wrong, false); !IsRefusal(ch.Err) || ch.Checksum != ChecksumMismatch || ch.Manifest.Name != "" {
		// A mismatching binary is refused before it runs at all.
		t.Fatalf("mismatch = %+v", ch)
	}

	for name, tc := range map[string]struct{ manifest, want string }{
		"proto2":  {`{"name":"proto2","protocol_version":2}`, "protocol version 2, this hub speaks [1]"},
		"proto0":  {`{"name":"proto0"}`, "protocol version 0"},
		"liar":    {`{"name":"other","protocol_version":1}`, `describes itself as "other"`},
		"greedy":  {`{"name":"greedy","protocol_version":1,"config_keys":["HUB_ENCRYPTION_KEY"]}`, "HUB_ variables"},
		"db":      {`{"name":"db","protocol_version":1,"config_keys":["DATABASE_URL"]}`, "a secret of the hub"},
		"secret":  {`{"name":"secret","protocol_version":1,"config_keys":["INTERNAL_API_SECRET"]}`, "a secret of the hub"},
		"healthz": {`{"name":"healthz","protocol_version":1}`, "reserved"},
	} {
		ch := Inspect(ctx, script(t, dir, name, tc.manifest), Sums{}, false)
		if !IsRefusal(ch.Err) || !strings.Contains(ch.Err.Error(), tc.want) {
			t.Errorf("%s: %v, want a refusal with %q", name, ch.Err, tc.want)
		}
	}
	broken := script(t, dir, "broken", "not json")
	if ch := Inspect(ctx, broken, Sums{}, false); ch.Err == nil || IsRefusal(ch.Err) {
		t.Errorf("broken describe = %v", ch.Err)
	}

	checks, err := InspectDir(ctx, dir, false)
	if err != nil || len(checks) != 9 || checks[0].Name != "broken" {
		t.Fatalf("InspectDir = %d checks, %v", len(checks), err)
	}
	os.WriteFile(filepath.Join(dir, SumsFile), []byte("garbage\n"), 0o644)
	if _, err := InspectDir(ctx, dir, false); err == nil {
		t.Fatal("malformed SHA256SUMS accepted")
	}
}

func TestPluginEnv(t *testing.T) {
	hubEnv := map[string]string{"GOOD_URL": "http://x", "HUB_DATABASE_URL": "postgres://secret", "OTHER": "y"}
	cases := []struct {
		name  string
		procs int // Options.GoMaxProcs
		env   map[string]string
		keys  []string
		want  []string
	}{
		{"only declared keys, and the plugins' GOMAXPROCS", 3, hubEnv, []string{"GOOD_URL", "MISSING", "HUB_DATABASE_URL"},
			[]string{"GOOD_URL=http://x", "GOMAXPROCS=3"}},
		{"nothing declared", 1, hubEnv, nil, []string{"GOMAXPROCS=1"}},
		{"a plugin that declares GOMAXPROCS gets the hub's setting",
			1, map[string]string{"GOMAXPROCS": "6"}, []string{"GOMAXPROCS"}, []string{"GOMAXPROCS=6"}},
		{"declared but not set", 2, hubEnv, []string{"GOMAXPROCS"}, []string{"GOMAXPROCS=2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := New(Options{Env: c.env, GoMaxProcs: c.procs})
			if env := h.pluginEnv(c.keys); !slices.Equal(env, c.want) {
				t.Fatalf("env = %v, want %v", env, c.want)
			}
		})
	}
}

// TestPluginGoMaxProcsDefault: half the hub's processors, rounded up.
func TestPluginGoMaxProcsDefault(t *testing.T) {
	want := (runtime.GOMAXPROCS(0) + 1) / 2
	if got := New(Options{}).opts.GoMaxProcs; got != want || got < 1 {
		t.Fatalf("GoMaxProcs = %d, want %d", got, want)
	}
}
