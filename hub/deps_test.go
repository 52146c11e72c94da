package hub

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// pluginPath is in the import path of every provider plugin's package and
// module (github.com/aurora-hub/aurora-hub/plugins/<name>/...).
const pluginPath = "/plugins/"

// TestNoPluginDependency keeps the hub independent of every plugin: no
// package the hub builds or tests (`go list -deps -test ./...` run in this
// module, under the environment's GOFLAGS and GOWORK) and no requirement or
// replacement in hub/go.mod may name a plugin. Tests needing PagerDuty use
// the simulator module tools/pdsim, never the plugin's code.
func TestNoPluginDependency(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to list the hub's dependencies: %v", err)
	}
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), goBin, args...)
		cmd.Dir = "." // the hub module's root: this file's package
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return out
	}

	t.Run("packages", func(t *testing.T) {
		out := run("list", "-deps", "-test", "./...")
		var n int
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			n++
			if pkg := sc.Text(); strings.Contains(pkg, pluginPath) {
				t.Errorf("the hub depends on plugin package %s (use tools/pdsim, or move the code the hub needs into hub or sdk)", pkg)
			}
		}
		if n < 50 { // the hub alone lists hundreds: a short answer means go list did not see ./...
			t.Fatalf("go list -deps -test ./... listed %d packages:\n%s", n, out)
		}
	})

	t.Run("go.mod", func(t *testing.T) {
		var mod struct {
			Module  struct{ Path string }
			Require []struct{ Path string }
			Replace []struct{ Old struct{ Path string } }
		}
		if err := json.Unmarshal(run("mod", "edit", "-json", "go.mod"), &mod); err != nil {
			t.Fatalf("go mod edit -json: %v", err)
		}
		if mod.Module.Path != "github.com/aurora-hub/aurora-hub/hub" {
			t.Fatalf("read the go.mod of %q, want the hub's", mod.Module.Path)
		}
		for _, r := range mod.Require {
			if strings.Contains(r.Path, pluginPath) {
				t.Errorf("hub/go.mod requires plugin module %s", r.Path)
			}
		}
		for _, r := range mod.Replace {
			if strings.Contains(r.Old.Path, pluginPath) {
				t.Errorf("hub/go.mod replaces plugin module %s", r.Old.Path)
			}
		}
	})
}
