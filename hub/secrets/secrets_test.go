package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
		{"unknown version", s, append([]byte{9}, sealed[1:]...), "connection:a", true},
		{"key id flipped", s, append(append([]byte{}, sealed[0], sealed[1]^1), sealed[2:]...), "connection:a", true},
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

// sealV1 seals in the format written before key rotation existed (version
// byte 1, no key id), exactly as the hub did then.
func sealV1(t *testing.T, key, plaintext []byte, binding string) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(append([]byte{1}, nonce...), nonce, plaintext, []byte(binding))
}

func TestRotation(t *testing.T) {
	a, b, c := bytes.Repeat([]byte{0xa}, KeySize), bytes.Repeat([]byte{0xb}, KeySize), bytes.Repeat([]byte{0xc}, KeySize)
	mustNew := func(cur []byte, prev ...[]byte) *Sealer {
		s, err := New(cur, prev...)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	onlyA, onlyB, bPrevA, cOnly := mustNew(a), mustNew(b), mustNew(b, a), mustNew(c)
	const bind = "connection:x:credential"
	sealedA, _ := onlyA.Seal([]byte("tok"), bind)
	sealedB, _ := onlyB.Seal([]byte("tok"), bind)
	v1A := sealV1(t, a, []byte("tok"), bind)
	v1B := sealV1(t, b, []byte("tok"), bind)
	tests := []struct {
		name      string
		s         *Sealer
		sealed    []byte
		wantOpen  bool
		wantStale bool
		wantKnown bool
		errHas    string
	}{
		{"A opens A", onlyA, sealedA, true, false, true, ""},
		{"B+A opens A, stale", bPrevA, sealedA, true, true, true, ""},
		{"B+A opens B, current", bPrevA, sealedB, true, false, true, ""},
		{"B alone refuses A, naming its key", onlyB, sealedA, false, true, false, KeyID(a)},
		{"C refuses B", cOnly, sealedB, false, true, false, KeyID(b)},
		{"v1 under A opens with A, stale", onlyA, v1A, true, true, true, ""},
		{"v1 under A opens with B+A", bPrevA, v1A, true, true, true, ""},
		{"v1 under B opens with B+A (current tried first)", bPrevA, v1B, true, true, true, ""},
		{"v1 under A refused by B", onlyB, v1A, false, true, true, "format v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.s.Open(tt.sealed, bind)
			if tt.wantOpen != (err == nil) {
				t.Fatalf("Open = %q, %v; want ok=%v", pt, err, tt.wantOpen)
			}
			if err != nil {
				if !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("Open error = %v; want ErrOpen naming %q", err, tt.errHas)
				}
				for _, k := range [][]byte{a, b, c} {
					if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(k)) {
						t.Fatal("error names a key")
					}
				}
			} else if string(pt) != "tok" {
				t.Fatalf("Open = %q", pt)
			}
			if got := tt.s.Stale(tt.sealed); got != tt.wantStale {
				t.Errorf("Stale = %v, want %v", got, tt.wantStale)
			}
			if got := tt.s.Known(tt.sealed); got != tt.wantKnown {
				t.Errorf("Known = %v, want %v", got, tt.wantKnown)
			}
			resealed, err := tt.s.Reseal(tt.sealed, bind)
			if tt.wantOpen != (err == nil) {
				t.Fatalf("Reseal: %v", err)
			}
			if err != nil {
				return
			}
			if tt.s.Stale(resealed) {
				t.Error("a resealed value is stale")
			}
			if !tt.wantStale && !bytes.Equal(resealed, tt.sealed) {
				t.Error("Reseal rewrote a current value")
			}
			// Once resealed, the current key alone opens it.
			cur, _ := tt.s.KeyIDs()
			for _, k := range [][]byte{a, b, c} {
				if KeyID(k) != cur {
					continue
				}
				if pt, err := mustNew(k).Open(resealed, bind); err != nil || string(pt) != "tok" {
					t.Fatalf("current key alone: Open = %q, %v", pt, err)
				}
			}
		})
	}
}

func TestNewKeys(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	s, err := New(a, b, a, b)
	if err != nil {
		t.Fatal(err)
	}
	cur, prev := s.KeyIDs()
	if cur != KeyID(a) || len(prev) != 1 || prev[0] != KeyID(b) {
		t.Fatalf("KeyIDs = %s %v; want %s [%s] (duplicates dropped)", cur, prev, KeyID(a), KeyID(b))
	}
	if KeyID(a) == KeyID(b) || len(KeyID(a)) != 8 {
		t.Fatalf("key ids %s %s", KeyID(a), KeyID(b))
	}
	if _, err := New(a, make([]byte, 16)); err == nil || !strings.Contains(err.Error(), "previous key 1") {
		t.Fatalf("short previous key: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	k1, k2 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeySize)), base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, KeySize))
	short := base64.StdEncoding.EncodeToString([]byte("short"))
	tests := []struct {
		in     string
		n      int
		errHas string
	}{
		{"", 0, ""},
		{k1, 1, ""},
		{" " + k1 + " , " + k2 + ",", 2, ""},
		{k1 + ",not base64!", 0, "key 2 is not valid base64"},
		{short, 0, "key 1 decodes to 5 bytes"},
	}
	for _, tt := range tests {
		got, err := ParseKeys(tt.in)
		if tt.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("ParseKeys(%q) error = %v, want %q", tt.in, err, tt.errHas)
			}
			if err != nil && strings.Contains(err.Error(), k1) {
				t.Errorf("error names a key")
			}
			continue
		}
		if err != nil || len(got) != tt.n {
			t.Errorf("ParseKeys(%q) = %d keys, %v; want %d", tt.in, len(got), err, tt.n)
		}
	}
}
