package config

import (
	"strings"
	"testing"
	"time"
)

func TestOpsFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		want    Ops
	}{
		{"defaults", nil, "", Ops{ReadyMinFreeDisk: 64 << 20, ReadyMaxQueueLag: 10 * time.Minute, ReadyCache: time.Second, SQLiteWALLimit: 64 << 20, ReplicaTimeout: 30 * time.Second}},
		{"set", map[string]string{
			"HUB_READY_MIN_FREE_DISK": "1GiB", "HUB_READY_MAX_QUEUE_LAG": "0s", "HUB_READY_CACHE": "0s",
			"HUB_SQLITE_WAL_LIMIT": "16MiB", "HUB_REPLICA_TIMEOUT": "10s",
		}, "", Ops{ReadyMinFreeDisk: 1 << 30, ReadyCache: 0, SQLiteWALLimit: 16 << 20, ReplicaTimeout: 10 * time.Second}},
		{"size not a size", map[string]string{"HUB_READY_MIN_FREE_DISK": "lots"}, "HUB_READY_MIN_FREE_DISK", Ops{}},
		{"wal limit too small", map[string]string{"HUB_SQLITE_WAL_LIMIT": "4KiB"}, "HUB_SQLITE_WAL_LIMIT", Ops{}},
		{"replica timeout too short", map[string]string{"HUB_REPLICA_TIMEOUT": "1s"}, "HUB_REPLICA_TIMEOUT", Ops{}},
		{"lag not a duration", map[string]string{"HUB_READY_MAX_QUEUE_LAG": "soon"}, "HUB_READY_MAX_QUEUE_LAG", Ops{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromEnv(tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr+":") {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Ops != tt.want {
				t.Fatalf("ops = %+v, want %+v", c.Ops, tt.want)
			}
		})
	}
}
