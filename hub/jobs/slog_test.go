package jobs

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestRiverLogsGoThroughHclog(t *testing.T) {
	var buf bytes.Buffer
	var dbDown bool
	log := newSlog(hclog.New(&hclog.LoggerOptions{Name: "jobs", Output: &buf, JSONFormat: true, Level: hclog.Debug}), func() bool { return dbDown })
	tests := []struct {
		name  string
		log   func()
		wants string // "" = nothing logged
	}{
		{"info is dropped", func() { log.Info("producer started", "queue", "default") }, ""},
		{"warning kept with attrs", func() { log.Warn("job failed", "kind", "incident_rca") }, `"kind":"incident_rca"`},
		{"group prefixes keys", func() { log.WithGroup("job").Error("panic", "id", 7) }, `"job.id":7`},
		{"errors while the database is down are debug", func() {
			dbDown = true
			defer func() { dbDown = false }()
			log.WithGroup("producer").Error("Error fetching jobs", "error", "read-only")
		}, `"@level":"debug"`},
	}
	for _, tt := range tests {
		buf.Reset()
		tt.log()
		got := buf.String()
		if (tt.wants == "") != (got == "") || !strings.Contains(got, tt.wants) {
			t.Errorf("%s: logged %q, want %q", tt.name, got, tt.wants)
		}
		if got != "" && !strings.Contains(got, `"@module":"jobs"`) {
			t.Errorf("%s: not through the hub's logger: %q", tt.name, got)
		}
	}
}
