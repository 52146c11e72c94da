// Package secrets seals credentials at rest with AES-256-GCM, bound to the
// row they belong to so sealed values cannot be swapped between rows, and
// opens values sealed with previous keys so the key can be rotated.
package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Sealed value formats. The first byte of every sealed value is its version.
//
//	v1: 0x01 | nonce(12) | ciphertext+tag               AAD = binding
//	v2: 0x02 | key id(4) | nonce(12) | ciphertext+tag   AAD = 0x02 | key id | binding
//
// v1 (written before key rotation existed) names no key, so it is opened by
// trying every configured key; an AES-GCM tag makes a wrong key fail, never
// decrypt to garbage. v2 names its key, so Open picks it at once and can
// say which key is missing. Seal writes v2 only.
const (
	versionV1 byte = 1
	versionV2 byte = 2
	keyIDSize      = 4
	headerV2       = 1 + keyIDSize
)

// KeySize is the size of a credential key in bytes.
const KeySize = 32

// key is one configured key with its id.
type key struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

// Sealer encrypts with the current key and decrypts with the current or
// any previous key.
type Sealer struct {
	keys []key // keys[0] is the current key
}

// New returns a Sealer that seals with current and opens values sealed with
// current or any of previous (all 32 bytes). A previous key equal to the
// current one, or given twice, is ignored.
func New(current []byte, previous ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	var seen [][]byte
	for i, k := range append([][]byte{current}, previous...) {
		if len(k) != KeySize {
			if i == 0 {
				return nil, fmt.Errorf("secrets: key is %d bytes, want %d", len(k), KeySize)
			}
			return nil, fmt.Errorf("secrets: previous key %d is %d bytes, want %d", i, len(k), KeySize)
		}
		if slices.ContainsFunc(seen, func(b []byte) bool { return bytes.Equal(b, k) }) {
			continue
		}
		seen = append(seen, k)
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		s.keys = append(s.keys, key{id: keyID(k), aead: aead})
	}
	return s, nil
}

// keyID names a key without revealing it: the first bytes of an HMAC of a
// fixed label under the key.
func keyID(k []byte) [keyIDSize]byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte("aurora-hub/secrets key id"))
	var id [keyIDSize]byte
	copy(id[:], m.Sum(nil))
	return id
}

// KeyID is the id of key as Open's errors and the hub's logs print it (8
// hex digits). It identifies a key; it does not reveal it.
func KeyID(key []byte) string {
	id := keyID(key)
	return hex.EncodeToString(id[:])
}

// KeyIDs returns the ids of the current key and of the previous keys.
func (s *Sealer) KeyIDs() (current string, previous []string) {
	for i, k := range s.keys {
		if i == 0 {
			current = hex.EncodeToString(k.id[:])
			continue
		}
		previous = append(previous, hex.EncodeToString(k.id[:]))
	}
	return current, previous
}

// Seal encrypts plaintext with the current key. binding (e.g.
// ConnectionBinding(id)) is authenticated but not stored: Open succeeds only
// with the same binding.
func (s *Sealer) Seal(plaintext []byte, binding string) ([]byte, error) {
	k := s.keys[0]
	n := k.aead.NonceSize()
	out := make([]byte, headerV2+n, headerV2+n+len(plaintext)+k.aead.Overhead())
	out[0] = versionV2
	copy(out[1:headerV2], k.id[:])
	nonce := out[headerV2:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secrets: reading nonce: %w", err)
	}
	return k.aead.Seal(out, nonce, plaintext, aadV2(out[:headerV2], binding)), nil
}

func aadV2(header []byte, binding string) []byte {
	return append(append(make([]byte, 0, len(header)+len(binding)), header...), binding...)
}

// ErrOpen is returned (wrapped) for a sealed value that is corrupt, was
// sealed with a key that is not configured, or belongs to another binding.
// Its messages name key ids, never keys or plaintext.
var ErrOpen = errors.New("secrets: cannot open sealed value")

// Open decrypts a value sealed with the same binding by the current or a
// previous key.
func (s *Sealer) Open(sealed []byte, binding string) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrOpen)
	}
	switch sealed[0] {
	case versionV1:
		for _, k := range s.keys {
			n := k.aead.NonceSize()
			if len(sealed) < 1+n+k.aead.Overhead() {
				return nil, fmt.Errorf("%w: truncated", ErrOpen)
			}
			if pt, err := k.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(binding)); err == nil {
				return pt, nil
			}
		}
		return nil, fmt.Errorf("%w: sealed (format v1) with none of the %d configured keys, for another row, or corrupt", ErrOpen, len(s.keys))
	case versionV2:
		if len(sealed) < headerV2 {
			return nil, fmt.Errorf("%w: truncated", ErrOpen)
		}
		id := sealed[1:headerV2]
		known := false
		for _, k := range s.keys {
			if !bytes.Equal(k.id[:], id) {
				continue
			}
			known = true
			n := k.aead.NonceSize()
			if len(sealed) < headerV2+n+k.aead.Overhead() {
				return nil, fmt.Errorf("%w: truncated", ErrOpen)
			}
			if pt, err := k.aead.Open(nil, sealed[headerV2:headerV2+n], sealed[headerV2+n:], aadV2(sealed[:headerV2], binding)); err == nil {
				return pt, nil
			}
		}
		if !known {
			return nil, fmt.Errorf("%w: sealed with key %x, which is neither HUB_ENCRYPTION_KEY nor in HUB_ENCRYPTION_PREVIOUS_KEYS", ErrOpen, id)
		}
		return nil, fmt.Errorf("%w: sealed with key %x for another row, or corrupt", ErrOpen, id)
	default:
		return nil, fmt.Errorf("%w: unknown format version %d", ErrOpen, sealed[0])
	}
}

// Stale reports whether sealed should be sealed again: it is in the old
// format or names a key other than the current one. It looks at the header
// only; Open decides whether the value can be opened at all.
func (s *Sealer) Stale(sealed []byte) bool {
	return len(sealed) < headerV2 || sealed[0] != versionV2 || !bytes.Equal(sealed[1:headerV2], s.keys[0].id[:])
}

// Known reports whether sealed names a configured key (a v1 value names
// none and is assumed known: only opening it can tell).
func (s *Sealer) Known(sealed []byte) bool {
	if len(sealed) < headerV2 || sealed[0] != versionV2 {
		return len(sealed) > 0 && sealed[0] == versionV1
	}
	for _, k := range s.keys {
		if bytes.Equal(k.id[:], sealed[1:headerV2]) {
			return true
		}
	}
	return false
}

// Reseal opens sealed and seals it again with the current key. It returns
// sealed itself when it is not stale.
func (s *Sealer) Reseal(sealed []byte, binding string) ([]byte, error) {
	if !s.Stale(sealed) {
		return sealed, nil
	}
	pt, err := s.Open(sealed, binding)
	if err != nil {
		return nil, err
	}
	return s.Seal(pt, binding)
}

// The bindings of every sealed column the hub stores, in one place so that
// re-sealing (aurora-hub rotate-key) uses exactly what the writers use.

// ConnectionBinding binds connections.secret to its row.
func ConnectionBinding(connID string) string { return "connection:" + connID + ":credential" }

// WebhookSecretBinding binds webhook_secrets.secret to its row.
func WebhookSecretBinding(connID, secretID string) string {
	return "connection:" + connID + ":webhook-secret:" + secretID
}

// OAuthVerifierBinding binds oauth_states.verifier to its row.
func OAuthVerifierBinding(stateHash string) string { return "oauth_state:" + stateHash + ":verifier" }

// ParseKeys decodes a comma-separated list of base64 32-byte keys (empty
// items are skipped). Errors name the item's position, never its value.
func ParseKeys(list string) ([][]byte, error) {
	var out [][]byte
	for i, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(item)
		if err != nil {
			return nil, fmt.Errorf("key %d is not valid base64", i+1)
		}
		if len(k) != KeySize {
			return nil, fmt.Errorf("key %d decodes to %d bytes, want %d", i+1, len(k), KeySize)
		}
		out = append(out, k)
	}
	return out, nil
}

// LoadOrCreateKey reads the base64 key file in dir, creating it (0600) with a
// fresh random key when absent. It reports whether it created one, so the
// caller can warn: a generated key is for development only.
func LoadOrCreateKey(dir string) (key []byte, created bool, err error) {
	path := filepath.Join(dir, "hub.key")
	b, err := os.ReadFile(path)
	if err == nil {
		key, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) != KeySize {
			return nil, false, fmt.Errorf("key file %s is not a base64 %d-byte key", path, KeySize)
		}
		// A key file left readable by others (copied, or written by hand)
		// is made private.
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, false, fmt.Errorf("making key file %s private: %w", path, err)
		}
		return key, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("reading key file: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("creating data dir: %w", err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("generating key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("creating key file: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("writing key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, false, fmt.Errorf("writing key file: %w", err)
	}
	return key, true, nil
}
