package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	sealed, err := s.Seal([]byte("u+secret-token"), "connection:a")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret-token")) {
		t.Fatal("sealed value contains the plaintext")
	}
	tests := []struct {
		name    string
		s       *Sealer
		sealed  []byte
		binding string
		wantErr bool
	}{
		{"same binding", s, sealed, "connection:a", false},
		{"swapped row", s, sealed, "connection:b", true},
		{"other key", other, sealed, "connection:a", true},
		{"truncated", s, sealed[:10], "connection:a", true},
		{"bit flip", s, append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1), "connection:a", true},
		{"empty", s, nil, "connection:a", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.s.Open(tt.sealed, tt.binding)
			if tt.wantErr {
				if !errors.Is(err, ErrOpen) {
					t.Fatalf("Open = %q, %v; want ErrOpen", pt, err)
				}
				return
			}
			if err != nil || string(pt) != "u+secret-token" {
				t.Fatalf("Open = %q, %v", pt, err)
			}
		})
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	s, _ := New(make([]byte, KeySize))
	a, _ := s.Seal([]byte("x"), "b")
	b, _ := s.Seal([]byte("x"), "b")
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal")
	}
}

func TestNewRejectsBadKey(t *testing.T) {
	if _, err := New(make([]byte, 16)); err == nil {
		t.Fatal("New accepted a 16-byte key")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k1, created, err := LoadOrCreateKey(dir)
	if err != nil || !created || len(k1) != KeySize {
		t.Fatalf("first load: %v created=%v len=%d", err, created, len(k1))
	}
	fi, err := os.Stat(filepath.Join(dir, "hub.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
	// A key file readable by others is made private when loaded.
	if err := os.Chmod(filepath.Join(dir, "hub.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	k2, created, err := LoadOrCreateKey(dir)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("second load: %v created=%v same=%v", err, created, bytes.Equal(k1, k2))
	}
	if fi, err := os.Stat(filepath.Join(dir, "hub.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode after load: %v %v", fi.Mode(), err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hub.key"), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKey(dir); err == nil {
		t.Fatal("a corrupt key file was accepted")
	}
}
