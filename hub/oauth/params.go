package oauth

import (
	"errors"
	"fmt"
	"net/url"
)

// Limits on the callback's query, which comes from the internet.
const (
	maxQueryBytes = 4096
	maxStateLen   = 128
	maxCodeLen    = 1024
	maxErrorLen   = 64
)

// CallbackParams are the callback query parameters the flow reads.
type CallbackParams struct {
	State string
	Code  string
	Error string
}

// ParseCallback validates the callback's raw query: bounded size, each of
// state, code and error at most once, within its length and alphabet.
// Other parameters (error_description, ...) are ignored.
func ParseCallback(raw string) (CallbackParams, error) {
	var p CallbackParams
	if len(raw) > maxQueryBytes {
		return p, fmt.Errorf("query of %d bytes exceeds %d", len(raw), maxQueryBytes)
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return p, errors.New("malformed query")
	}
	get := func(key string, max int, ok func(byte) bool) (string, error) {
		vs := q[key]
		switch {
		case len(vs) == 0:
			return "", nil
		case len(vs) > 1:
			return "", fmt.Errorf("%s given %d times", key, len(vs))
		case len(vs[0]) > max:
			return "", fmt.Errorf("%s longer than %d", key, max)
		}
		for i := 0; i < len(vs[0]); i++ {
			if !ok(vs[0][i]) {
				return "", fmt.Errorf("%s has a character outside its alphabet", key)
			}
		}
		return vs[0], nil
	}
	if p.State, err = get("state", maxStateLen, isBase64URL); err != nil {
		return CallbackParams{}, err
	}
	if p.Code, err = get("code", maxCodeLen, isVisibleASCII); err != nil {
		return CallbackParams{}, err
	}
	if p.Error, err = get("error", maxErrorLen, isErrorCode); err != nil {
		return CallbackParams{}, err
	}
	return p, nil
}

func isBase64URL(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// isVisibleASCII is RFC 6749's VSCHAR (%x20-7E) without the space.
func isVisibleASCII(c byte) bool { return c > 0x20 && c < 0x7f }

func isErrorCode(c byte) bool { return c >= 'a' && c <= 'z' || c == '_' }
