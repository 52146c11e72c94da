// Package webhook holds the chores every webhook provider would otherwise
// write again: header lookup, stored secrets, signature checks, the unsigned
// policy, lenient JSON, text clean-up and alert-to-incident mapping.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aurora-hub/aurora-hub/sdk"
)

// Header returns the first value of header name in h, whatever the case
// of either (h need not hold canonical names).
func Header(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// Secret kinds ParseSecret understands.
const (
	KindBearer = "bearer" // Authorization: Bearer <Value>
	KindBasic  = "basic"  // Authorization: Basic base64(<User>:<Value>)
	KindHMAC   = "hmac"   // a signing key: <Value> signs the body
)

// Secret is one stored webhook secret, parsed. Its String hides Value.
type Secret struct {
	Kind  string
	User  string // basic only
	Value string
}

func (s Secret) String() string { return "Secret{" + s.Kind + ", redacted}" }

// ParseSecret reads a stored secret written as "<kind>:<value>" (for basic,
// "basic:<user>:<password>"), where kind is one of kinds, case-insensitive.
// A value with no known kind prefix is a secret of kinds[0]. The error is
// an *sdk.Error (CodeInvalid) fit to show the person storing the secret.
func ParseSecret(s string, kinds ...string) (Secret, error) {
	s = strings.TrimSpace(s)
	if len(kinds) == 0 {
		kinds = []string{KindBearer}
	}
	if s == "" {
		return Secret{}, sdk.Errorf(sdk.CodeInvalid, "Secret is empty")
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return Secret{}, sdk.Errorf(sdk.CodeInvalid, "Secret must not contain control characters")
	}
	sec := Secret{Kind: kinds[0], Value: s}
	if prefix, rest, ok := strings.Cut(s, ":"); ok {
		for _, k := range kinds {
			if strings.EqualFold(prefix, k) {
				sec = Secret{Kind: k, Value: strings.TrimSpace(rest)}
			}
		}
	}
	if sec.Kind == KindBasic {
		user, pass, ok := strings.Cut(sec.Value, ":")
		if !ok || user == "" || pass == "" {
			return Secret{}, sdk.Errorf(sdk.CodeInvalid, "Basic credentials must be basic:<user>:<password>")
		}
		sec.User, sec.Value = user, pass
	}
	if sec.Value == "" {
		return Secret{}, sdk.Errorf(sdk.CodeInvalid, "Secret of kind %q is empty", sec.Kind)
	}
	return sec, nil
}

// ParseSecrets parses every stored secret, skipping unusable ones (an empty
// token would let anyone in).
func ParseSecrets(secrets []string, kinds ...string) []Secret {
	var out []Secret
	for _, s := range secrets {
		if sec, err := ParseSecret(s, kinds...); err == nil {
			out = append(out, sec)
		}
	}
	return out
}

// Equal compares a and b in time that depends on neither's content or
// length (both are hashed first).
func Equal(a, b string) bool {
	da, db := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(da[:], db[:]) == 1
}

// Authorization reports whether the Authorization header of h carries
// sec (a bearer or basic secret), compared in constant time.
func Authorization(h http.Header, sec Secret) bool {
	scheme, value, _ := strings.Cut(strings.TrimSpace(Header(h, "Authorization")), " ")
	value = strings.TrimSpace(value)
	switch {
	case sec.Kind == KindBearer && strings.EqualFold(scheme, "Bearer"):
		return value != "" && Equal(value, sec.Value)
	case sec.Kind == KindBasic && strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(value)
		if err != nil {
			return false
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		return ok && Equal(lengthPrefixed(user, pass), lengthPrefixed(sec.User, sec.Value))
	}
	return false
}

func lengthPrefixed(parts ...string) string {
	var b []byte
	for _, p := range parts {
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
		b = append(b, p...)
	}
	return string(b)
}

// HMAC describes an HMAC-SHA256 signature scheme: the hex digest of the
// body, or of "<timestamp><Separator><body>" when the delivery carries a
// timestamp header.
type HMAC struct {
	// SignatureHeader carries the hex signature, after Prefix (e.g. "sha256=").
	SignatureHeader string
	Prefix          string
	// TimestampHeader, when set and present, carries Unix seconds that are
	// signed with the body and must be within MaxAge of now.
	TimestampHeader string
	Separator       string        // default ":"
	MaxAge          time.Duration // default 5 minutes
	Now             func() time.Time
}

// Errors of HMAC.Verify.
var (
	ErrNoSignature = errors.New("no signature")
	ErrStale       = errors.New("timestamp outside the freshness window")
	ErrMismatch    = errors.New("signature does not match")
)

// Sign returns the hex signature of body (and timestamp, when not empty).
func (h HMAC) Sign(key, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	if timestamp != "" {
		sep := h.Separator
		if sep == "" {
			sep = ":"
		}
		m.Write([]byte(timestamp + sep))
	}
	m.Write(body)
	return h.Prefix + hex.EncodeToString(m.Sum(nil))
}

// Verify checks the delivery's signature against key.
func (h HMAC) Verify(hdr http.Header, body []byte, key string) error {
	sig := strings.TrimSpace(Header(hdr, h.SignatureHeader))
	if sig == "" {
		return ErrNoSignature
	}
	ts := ""
	if h.TimestampHeader != "" {
		ts = strings.TrimSpace(Header(hdr, h.TimestampHeader))
	}
	if ts != "" {
		secs, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrStale, truncate(ts, 20))
		}
		now, maxAge := time.Now(), h.MaxAge
		if h.Now != nil {
			now = h.Now()
		}
		if maxAge <= 0 {
			maxAge = 5 * time.Minute
		}
		if d := now.Sub(time.Unix(secs, 0)); d > maxAge || d < -maxAge {
			return ErrStale
		}
	}
	want := h.Sign(key, ts, body)
	// Compare digests of equal length whatever was sent; hex case-insensitive.
	if !Equal(strings.ToLower(sig), strings.ToLower(want)) {
		return ErrMismatch
	}
	return nil
}

// Policy is what Authenticate says when it refuses a delivery.
type Policy struct {
	// NoSecret is the message when no usable secret is stored and unsigned
	// deliveries are not allowed; say how to store one.
	NoSecret string
	// Rejected is the message when no stored secret matches.
	Rejected string
}

// Authenticate tries every usable stored secret of req on match (all of
// them, whichever matches, so timing says nothing about which), and applies
// the unsigned policy: with no usable secret, a delivery is let through
// unverified only when req.AllowUnsigned. The errors are *sdk.Error with
// CodeUnauthenticated.
func Authenticate(req *sdk.WebhookRequest, kinds []string, p Policy, match func(Secret) bool) (verified bool, err error) {
	if req == nil {
		return false, sdk.Errorf(sdk.CodeInvalid, "Empty webhook request")
	}
	secrets := ParseSecrets(req.Secrets, kinds...)
	if len(secrets) == 0 {
		if req.AllowUnsigned {
			return false, nil
		}
		msg := p.NoSecret
		if msg == "" {
			msg = "No webhook secret configured for this connection"
		}
		return false, &sdk.Error{Code: sdk.CodeUnauthenticated, Message: msg}
	}
	ok := false
	for _, s := range secrets {
		if match(s) {
			ok = true
		}
	}
	if !ok {
		msg := p.Rejected
		if msg == "" {
			msg = "Invalid webhook signature or credentials"
		}
		return false, &sdk.Error{Code: sdk.CodeUnauthenticated, Message: msg}
	}
	return true, nil
}
