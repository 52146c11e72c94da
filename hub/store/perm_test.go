package store_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/aurora-hub/aurora-hub/hub/store"
)

// TestSQLiteFilesArePrivate opens SQLite databases under umask 000: the
// directory it creates is 0700, the database and its -wal and -shm files
// 0600, and a database left readable by an older hub is made private.
func TestSQLiteFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
	}{
		{"new database in a new directory", nil},
		{"existing files readable by others", func(t *testing.T, path string) {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{path, path + "-wal", path + "-shm"} {
				if err := os.WriteFile(f, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "data", "nested", "hub.db")
			if tt.prepare != nil {
				tt.prepare(t, path)
			}
			s, err := store.Open(ctx, store.Options{Driver: "sqlite", SQLitePath: path})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			want := map[string]os.FileMode{path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600}
			if tt.prepare == nil {
				// Directories the hub created; an existing one is the operator's.
				want[filepath.Dir(path)] = 0o700
				want[filepath.Dir(filepath.Dir(path))] = 0o700
			}
			for f, mode := range want {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != mode {
					t.Errorf("%s: mode %04o, want %04o", filepath.Base(f), got, mode)
				}
			}
		})
	}
}
