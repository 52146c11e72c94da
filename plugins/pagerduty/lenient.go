package pagerduty

// Lenient JSON types. PagerDuty's payloads vary in the wild (numbers sent as
// strings and strings as numbers, objects where references are expected, null
// anywhere), so every field the plugin reads decodes through one of these,
// which accept any JSON value and never return an error.

import (
	"bytes"
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
)

// flexString accepts a string, number or boolean; anything else is "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	*f = ""
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		var s string
		if json.Unmarshal(b, &s) == nil {
			*f = flexString(s)
		}
	case 't', 'f':
		*f = flexString(b)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		*f = flexString(b)
	}
	return nil
}

// flexInt accepts a number or a numeric string; anything else is 0.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	*f = 0
	var s flexString
	_ = s.UnmarshalJSON(b)
	str := strings.TrimSpace(string(s))
	if str == "" {
		return nil
	}
	if n, err := strconv.ParseInt(str, 10, 64); err == nil {
		*f = flexInt(n)
		return nil
	}
	if x, err := strconv.ParseFloat(str, 64); err == nil && !math.IsNaN(x) && x > -9e18 && x < 9e18 {
		*f = flexInt(int64(x))
	}
	return nil
}

// flexBool accepts true/false, "true"/"false" and numbers (non-zero is true).
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	var s flexString
	_ = s.UnmarshalJSON(b)
	v, err := strconv.ParseBool(strings.TrimSpace(string(s)))
	if err != nil {
		n, nerr := strconv.ParseFloat(strings.TrimSpace(string(s)), 64)
		v = nerr == nil && n != 0
	}
	*f = flexBool(v)
	return nil
}

// flexTime accepts RFC 3339 timestamps (with or without fractions), and
// Unix seconds as a number; anything else is the zero time.
type flexTime time.Time

func (f *flexTime) UnmarshalJSON(b []byte) error {
	*f = flexTime(parseTime(b))
	return nil
}

func timeOf(t flexTime) time.Time { return time.Time(t) }

func parseTime(b []byte) time.Time {
	var s flexString
	_ = s.UnmarshalJSON(b)
	str := strings.TrimSpace(string(s))
	if str == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02 15:04:05 MST", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, str); err == nil {
			return t.UTC()
		}
	}
	if x, err := strconv.ParseFloat(str, 64); err == nil && x > 0 && x < 1e11 {
		return time.Unix(int64(x), 0).UTC()
	}
	return time.Time{}
}

// rawObject keeps a JSON value only when it is an object.
type rawObject json.RawMessage

func (r *rawObject) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		*r = append((*r)[:0], b...)
	} else {
		*r = nil
	}
	return nil
}

// rawArray keeps the items of a JSON array; anything else is empty.
type rawArray []json.RawMessage

func (r *rawArray) UnmarshalJSON(b []byte) error {
	*r = nil
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '[' {
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(b, &items) == nil {
		*r = items
	}
	return nil
}

// flexRef is a PagerDuty reference ({id, type, summary, html_url, self,
// name}); nil unless the value is an object with at least an id or summary.
type flexRef struct {
	ID      flexString `json:"id"`
	Type    flexString `json:"type"`
	Summary flexString `json:"summary"`
	Name    flexString `json:"name"`
	HTMLURL flexString `json:"html_url"`
	Self    flexString `json:"self"`
	Email   flexString `json:"email"`
}

// parseRef decodes a reference; nil when b is not a usable object.
func parseRef(b []byte) *sdk.Reference {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var r flexRef
	if json.Unmarshal(b, &r) != nil {
		return nil
	}
	ref := &sdk.Reference{
		ID: string(r.ID), Type: string(r.Type), Summary: string(r.Summary), HTMLURL: string(r.HTMLURL),
	}
	if ref.Summary == "" {
		ref.Summary = string(r.Name)
	}
	if ref.ID == "" && ref.Summary == "" && ref.HTMLURL == "" {
		return nil
	}
	return ref
}

// parseRefs decodes an array of references, skipping unusable items.
func parseRefs(b []byte) []sdk.Reference {
	var items rawArray
	_ = items.UnmarshalJSON(b)
	var out []sdk.Reference
	for _, it := range items {
		if r := parseRef(it); r != nil {
			out = append(out, *r)
		}
	}
	return out
}

// subdomainOf returns the first label of html_url's host
// ("https://acme.pagerduty.com/..." -> "acme").
func subdomainOf(htmlURL string) string {
	u, err := url.Parse(strings.TrimSpace(htmlURL))
	if err != nil || u.Hostname() == "" {
		return ""
	}
	host := u.Hostname()
	if i := strings.IndexByte(host, '.'); i > 0 {
		return host[:i]
	}
	return ""
}
