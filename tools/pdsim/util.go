package pdsim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomString returns n characters from alphabet using crypto/rand.
func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms; fall back to time.
		for i := range b {
			b[i] = byte(time.Now().UnixNano() >> (i % 8))
		}
	}
	out := make([]byte, n)
	for i, c := range b {
		out[i] = alphabet[int(c)%len(alphabet)]
	}
	return string(out)
}

// newPDID returns a PagerDuty-style object id such as "PXPGF42".
func newPDID() string { return "P" + randomString(idAlphabet, 6) }

// newLongID returns a 14 character id such as log entries use.
func newLongID() string { return "R" + randomString(idAlphabet, 13) }

// newULID returns a 26 character ULID-like id.
func newULID() string { return randomString("0123456789ABCDEFGHJKMNPQRSTVWXYZ", 26) }

// newUUID returns a random (version 4) UUID string.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newSecret returns a random token suitable for secrets and OAuth tokens.
func newSecret(n int) string {
	return randomString("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", n)
}

// ts renders a REST timestamp (seconds, UTC).
func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// tsOrNil renders t, or nil when zero.
func tsOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

// nilIfEmpty returns nil for "" so that JSON shows null.
func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"Internal Server Error","code":2000}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// PagerDuty error codes used by the simulator.
const (
	CodeInternal          = 2000
	CodeInvalidInput      = 2001
	CodeAuthentication    = 2006
	CodeAccessDenied      = 2010
	CodeMissingAbility    = 2014
	CodeRateLimit         = 2020
	CodeNotFound          = 2100
	invalidInputMessage   = "Invalid Input Provided"
	accessDeniedMessage   = "Access Denied"
	accountLevelUsersMe   = "Because this request was made using an account-level access token, we were unable to determine the user's identity. Please use a user-level token."
	missingAbilityMessage = "Account does not have the abilities to perform the action"
)

// writeError writes PagerDuty's error envelope
// {"error":{"message","code","errors"}}; errs is omitted when nil.
func writeError(w http.ResponseWriter, status int, message string, code int, errs []string) {
	e := map[string]any{"message": message, "code": code}
	if errs != nil {
		e["errors"] = errs
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeInvalid(w http.ResponseWriter, errs ...string) {
	if errs == nil {
		errs = []string{}
	}
	writeError(w, http.StatusBadRequest, invalidInputMessage, CodeInvalidInput, errs)
}

func writeNotFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "Not Found", CodeNotFound, nil)
}

// decodeObject parses body as a JSON object; ok is false otherwise.
func decodeObject(body []byte) (map[string]any, bool) {
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// obj returns m[key] as an object.
func obj(m map[string]any, key string) (map[string]any, bool) {
	v, ok := m[key].(map[string]any)
	return v, ok
}

// str returns m[key] as a string.
func str(m map[string]any, key string) (string, bool) {
	v, ok := m[key].(string)
	return v, ok
}

// refID returns the id of a reference object m[key] ({"id": ..., "type": ...})
// and checks its type when wantType is not empty.
func refID(m map[string]any, key, wantType string) (id string, present bool, err string) {
	raw, has := m[key]
	if !has || raw == nil {
		return "", false, ""
	}
	ref, ok := raw.(map[string]any)
	if !ok {
		return "", true, key + " must be an object reference"
	}
	id, _ = str(ref, "id")
	if id == "" {
		return "", true, key + " id is required"
	}
	if wantType != "" {
		t, _ := str(ref, "type")
		if t != wantType {
			return id, true, fmt.Sprintf("%s type must be %q", key, wantType)
		}
	}
	return id, true, ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseTime accepts RFC 3339 timestamps and dates (YYYY-MM-DD).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q", s)
}

// atoiOr parses s as an int, returning def when empty.
func atoiOr(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	return strconv.Atoi(strings.TrimSpace(s))
}

// cleanPath trims a trailing slash (but keeps "/").
func cleanPath(p string) string {
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		return strings.TrimRight(p, "/")
	}
	return p
}

// copyMap makes a shallow copy so stored data is not aliased by callers.
func copyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func copyStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}
