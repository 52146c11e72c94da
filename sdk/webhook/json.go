package webhook

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aurora-hub/aurora-hub/sdk"
	// jsonv1 is encoding/json's API and behaviour on the decoder of JSON v2
	// (what encoding/json runs on with GOEXPERIMENT=jsonv2): one pass over
	// a value where encoding/json validates it first and decodes it after,
	// again at each nested Unmarshal of a webhook's lenient types.
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// Invalid is an *sdk.Error with CodeInvalid: the delivery is malformed.
func Invalid(format string, args ...any) error { return sdk.Errorf(sdk.CodeInvalid, format, args...) }

// DecodeObject decodes a delivery's body, which must be one JSON object,
// into v. Every failure is CodeInvalid with a message fit for the sender.
// Decode into the lenient types below so an odd field is an empty value,
// not a refused delivery.
func DecodeObject(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return Invalid("Empty webhook body")
	case body[0] != '{':
		return Invalid("Webhook body must be a JSON object")
	}
	if err := jsonv1.Unmarshal(body, v); err != nil {
		return Invalid("Webhook body is not valid JSON")
	}
	return nil
}

// String accepts a JSON string, number or boolean (kept as its JSON text);
// anything else is "". It never fails to decode.
type String string

// UnmarshalJSON implements json.Unmarshaler.
func (f *String) UnmarshalJSON(b []byte) error {
	*f = ""
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		if s, ok := plainString(b); ok {
			*f = String(s)
			return nil
		}
		var s string
		if jsonv1.Unmarshal(b, &s) == nil {
			*f = String(s)
		}
	case 't', 'f', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		*f = String(b)
	}
	return nil
}

// plainString returns the text of b, a JSON string, when it needs no
// unescaping: no backslash, quote or control character inside, valid UTF-8.
// That is what json.Unmarshal would return, without its validation pass and
// decoder (most strings of a webhook are plain; this is the plugins' hot path).
func plainString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	in := b[1 : len(b)-1]
	for _, c := range in {
		if c < ' ' || c == '"' || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// Trimmed is the value without surrounding space.
func (f String) Trimmed() string { return strings.TrimSpace(string(f)) }

// Int accepts a number or a numeric string; anything else is 0.
type Int int64

// UnmarshalJSON implements json.Unmarshaler.
func (f *Int) UnmarshalJSON(b []byte) error {
	*f = 0
	var s String
	_ = s.UnmarshalJSON(b)
	str := s.Trimmed()
	if n, err := strconv.ParseInt(str, 10, 64); err == nil {
		*f = Int(n)
	} else if x, err := strconv.ParseFloat(str, 64); err == nil && !math.IsNaN(x) && x > -9e18 && x < 9e18 {
		*f = Int(int64(x))
	}
	return nil
}

// Bool accepts true/false, "true"/"false" and numbers (non-zero is true).
type Bool bool

// UnmarshalJSON implements json.Unmarshaler.
func (f *Bool) UnmarshalJSON(b []byte) error {
	var s String
	_ = s.UnmarshalJSON(b)
	v, err := strconv.ParseBool(s.Trimmed())
	if err != nil {
		n, nerr := strconv.ParseFloat(s.Trimmed(), 64)
		v = nerr == nil && n != 0
	}
	*f = Bool(v)
	return nil
}

// Time accepts RFC 3339 timestamps (and a few near variants) and Unix
// seconds; anything else, and Go's zero time "0001-01-01T00:00:00Z" that
// Alertmanager and Grafana send for "unset", is the zero time.
type Time time.Time

// UnmarshalJSON implements json.Unmarshaler.
func (f *Time) UnmarshalJSON(b []byte) error {
	var s String
	_ = s.UnmarshalJSON(b)
	*f = Time(ParseTime(string(s)))
	return nil
}

// T is the time.Time.
func (f Time) T() time.Time { return time.Time(f) }

// ParseTime is Time's parser for a string, in UTC.
func ParseTime(str string) time.Time {
	str = strings.TrimSpace(str)
	if str == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02 15:04:05 MST", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, str); err == nil {
			if t.IsZero() {
				return time.Time{}
			}
			return t.UTC()
		}
	}
	if x, err := strconv.ParseFloat(str, 64); err == nil && x > 0 && x < 1e11 {
		return time.Unix(int64(x), 0).UTC()
	}
	return time.Time{}
}

// Labels is a set of labels or annotations. Values that are numbers or
// booleans keep their JSON text; empty, null and nested values are dropped;
// anything but an object is an empty set.
type Labels map[string]string

// UnmarshalJSON implements json.Unmarshaler.
func (l *Labels) UnmarshalJSON(b []byte) error {
	*l = nil
	var raw map[string]json.RawMessage
	if jsonv1.Unmarshal(b, &raw) != nil {
		return nil
	}
	set := make(Labels, len(raw))
	for k, v := range raw {
		var s String
		_ = s.UnmarshalJSON(v)
		if s != "" {
			set[k] = string(s)
		}
	}
	*l = set
	return nil
}

// Object keeps a JSON value only when it is an object.
type Object json.RawMessage

// UnmarshalJSON implements json.Unmarshaler.
func (r *Object) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		*r = append((*r)[:0], b...)
	} else {
		*r = nil
	}
	return nil
}

// Array keeps the items of a JSON array; anything else is empty.
type Array []json.RawMessage

// UnmarshalJSON implements json.Unmarshaler.
func (r *Array) UnmarshalJSON(b []byte) error {
	*r = nil
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '[' {
		return nil
	}
	var items []json.RawMessage
	if jsonv1.Unmarshal(b, &items) == nil {
		*r = items
	}
	return nil
}

// Compact returns raw without insignificant space, or nil if it is not JSON.
func Compact(raw []byte) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return nil
	}
	return b.Bytes()
}
