package pdsim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRoutesExistInSpec checks every implemented route (and its OAuth scope)
// against PagerDuty's OpenAPI document when ../shared is present. The
// document is read in place, never copied.
func TestRoutesExistInSpec(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "pagerduty", "openapiv3.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("OpenAPI document not available: %v", err)
	}
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	for _, rt := range Routes() {
		ops, ok := spec.Paths[rt.Path]
		if !ok {
			t.Errorf("%s %s: path not in the spec", rt.Method, rt.Path)
			continue
		}
		opRaw, ok := ops[strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s %s: method not in the spec", rt.Method, rt.Path)
			continue
		}
		var op struct {
			Scope     string                     `json:"x-pd-requires-scope"`
			Responses map[string]json.RawMessage `json:"responses"`
		}
		if err := json.Unmarshal(opRaw, &op); err != nil {
			t.Fatal(err)
		}
		if op.Scope != rt.Scope {
			t.Errorf("%s %s: scope %q, spec says %q", rt.Method, rt.Path, rt.Scope, op.Scope)
		}
	}
}
