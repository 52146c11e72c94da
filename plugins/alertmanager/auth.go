package alertmanager

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"net/url"
	"strings"
	"unicode"

	"github.com/aurora-hub/aurora-hub/sdk"
)

// Messages users see.
const (
	msgTokenRequired  = "Token required"
	msgBearerTooShort = "Bearer token must be at least 16 characters"
	msgBasicShape     = "Basic credentials must be user:password"
	msgControlChars   = "Credentials must not contain control characters"
	msgNoCredentials  = `No webhook credentials configured: store the credentials Alertmanager sends ` +
		`with PUT /alertmanager/webhook-secret, as "bearer:<token>" or "basic:<user>:<password>"`
	msgBadCredentials = "Invalid webhook credentials"
)

// minBearerLength is the shortest bearer token ValidateCredentials accepts.
const minBearerLength = 16

// credential is one way of authenticating: a bearer token, or a basic-auth
// user and password.
type credential struct {
	kind, user, secret string
}

// parseCredential reads a stored credential: "bearer:<token>",
// "basic:<user>:<password>", or a bare token (a bearer token).
func parseCredential(s string) (credential, bool) {
	s = strings.TrimSpace(s)
	prefix, rest, found := strings.Cut(s, ":")
	switch {
	case found && strings.EqualFold(prefix, AuthBearer):
		tok := strings.TrimSpace(rest)
		return credential{kind: AuthBearer, secret: tok}, tok != ""
	case found && strings.EqualFold(prefix, AuthBasic):
		user, pass, ok := strings.Cut(rest, ":")
		return credential{kind: AuthBasic, user: user, secret: pass}, ok && user != ""
	}
	return credential{kind: AuthBearer, secret: s}, s != ""
}

// presented reads the credential of an Authorization header.
func presented(header string) (credential, bool) {
	scheme, value, _ := strings.Cut(strings.TrimSpace(header), " ")
	value = strings.TrimSpace(value)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return credential{kind: AuthBearer, secret: value}, value != ""
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(value)
		if err != nil {
			return credential{}, false
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		return credential{kind: AuthBasic, user: user, secret: pass}, ok
	}
	return credential{}, false
}

// digest is an unambiguous hash of c, so credentials of any length compare
// in constant time.
func (c credential) digest() [sha256.Size]byte {
	h := sha256.New()
	for _, s := range []string{c.kind, c.user, c.secret} {
		_ = binary.Write(h, binary.BigEndian, uint64(len(s)))
		h.Write([]byte(s))
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// authenticate reports whether header carries one of want. Every candidate
// is compared, in constant time, whichever matches.
func authenticate(header string, want []credential) bool {
	got, ok := presented(header)
	gd := got.digest()
	match := 0
	for _, w := range want {
		wd := w.digest()
		match |= subtle.ConstantTimeCompare(gd[:], wd[:])
	}
	return ok && match == 1
}

// usableCredentials parses the connection's stored secrets; unusable ones
// (empty token, basic without a user) are skipped: they would let anyone in.
func usableCredentials(secrets []string) []credential {
	var out []credential
	for _, s := range secrets {
		if c, ok := parseCredential(s); ok {
			out = append(out, c)
		}
	}
	return out
}

// ValidateCredentials implements sdk.CredentialValidator. Alertmanager has
// no API to ask, so it checks the credentials' shape: a bearer token of at
// least 16 characters, or user:password. Kind api_token (what the hub's
// POST /alertmanager sends) and "" take the stored form: "bearer:<token>",
// "basic:<user>:<password>", or a bare bearer token.
func (*Provider) ValidateCredentials(_ context.Context, creds sdk.Credentials) (*sdk.Validation, error) {
	tok := strings.TrimSpace(creds.Token)
	if tok == "" {
		return nil, &sdk.Error{Code: sdk.CodeInvalid, Message: msgTokenRequired}
	}
	if strings.IndexFunc(tok, unicode.IsControl) >= 0 {
		return nil, &sdk.Error{Code: sdk.CodeInvalid, Message: msgControlChars}
	}
	var c credential
	switch creds.Kind {
	case AuthBearer:
		c = credential{kind: AuthBearer, secret: tok}
	case AuthBasic:
		user, pass, _ := strings.Cut(tok, ":")
		c = credential{kind: AuthBasic, user: user, secret: pass}
	case "", sdk.AuthAPIToken:
		c, _ = parseCredential(tok)
	default:
		return nil, sdk.Errorf(sdk.CodeInvalid, "Unsupported credential kind %q: use %q or %q", creds.Kind, AuthBearer, AuthBasic)
	}
	switch {
	case c.kind == AuthBearer && len(c.secret) < minBearerLength:
		return nil, &sdk.Error{Code: sdk.CodeInvalid, Message: msgBearerTooShort}
	case c.kind == AuthBasic && (c.user == "" || c.secret == ""):
		return nil, &sdk.Error{Code: sdk.CodeInvalid, Message: msgBasicShape}
	}
	id := sdk.Identity{AccountSubdomain: "alertmanager", AccountLevel: true}
	if raw := strings.TrimSpace(creds.Fields["external_url"]); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" {
			return nil, sdk.Errorf(sdk.CodeInvalid, "external_url %q is not an absolute URL", raw)
		}
		id.AccountSubdomain = u.Hostname()
	}
	if c.kind == AuthBasic {
		id.UserName = &c.user
	}
	return &sdk.Validation{Identity: id, Capabilities: map[string]bool{"can_receive_alerts": true}}, nil
}
