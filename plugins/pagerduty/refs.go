package pagerduty

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/webhook"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// PagerDuty's payloads vary in the wild (numbers sent as strings and strings
// as numbers, objects where references are expected, null anywhere), so
// every field the plugin reads decodes through sdk/webhook's lenient types,
// which accept any JSON value and never return an error.

// flexRef is a PagerDuty reference ({id, type, summary, html_url, self,
// name}); nil unless the value is an object with at least an id or summary.
type flexRef struct {
	ID      webhook.String `json:"id"`
	Type    webhook.String `json:"type"`
	Summary webhook.String `json:"summary"`
	Name    webhook.String `json:"name"`
	HTMLURL webhook.String `json:"html_url"`
	Self    webhook.String `json:"self"`
	Email   webhook.String `json:"email"`
}

// parseRef decodes a reference; nil when b is not a usable object.
func parseRef(b []byte) *sdk.Reference {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var r flexRef
	if jsonv1.Unmarshal(b, &r) != nil {
		return nil
	}
	return r.reference()
}

// reference is r as the SDK's type; nil when it names nothing.
func (r *flexRef) reference() *sdk.Reference {
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

// The webhook path decodes a body in one pass: the reference types below
// (and v3Body's fields) read their value from the decoder in place
// (json.UnmarshalerFrom) where a json.RawMessage field was copied out and
// decoded again. Each also has UnmarshalJSON, for encoding/json, which
// decodes the same value (see FuzzDecodersAgree).

// refField is a reference field: parseRef of its value.
type refField struct{ ref *sdk.Reference }

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (f *refField) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	f.ref = nil
	if dec.PeekKind() != '{' {
		return dec.SkipValue()
	}
	var r flexRef
	if err := json.UnmarshalDecode(dec, &r); err != nil {
		return err
	}
	f.ref = r.reference()
	return nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *refField) UnmarshalJSON(b []byte) error { return jsonv1.Unmarshal(b, f) }

// refList is an array of references, unusable items skipped; anything but
// an array is empty.
type refList []sdk.Reference

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (l *refList) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*l = nil
	if dec.PeekKind() != '[' {
		return dec.SkipValue()
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != ']' {
		var f refField
		if err := f.UnmarshalJSONFrom(dec); err != nil {
			return err
		}
		if f.ref != nil {
			*l = append(*l, *f.ref)
		}
	}
	_, err := dec.ReadToken()
	return err
}

// UnmarshalJSON implements json.Unmarshaler.
func (l *refList) UnmarshalJSON(b []byte) error { return jsonv1.Unmarshal(b, l) }

// priorityField is an incident's priority: its summary (or name) when an
// object, a bare string (or number) as is, anything else "".
type priorityField string

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (p *priorityField) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*p = ""
	if dec.PeekKind() == '{' {
		var f refField
		if err := f.UnmarshalJSONFrom(dec); err != nil || f.ref == nil {
			return err
		}
		*p = priorityField(f.ref.Summary)
		return nil
	}
	val, err := dec.ReadValue()
	if err != nil {
		return err
	}
	var s webhook.String
	_ = s.UnmarshalJSON(val)
	*p = priorityField(s)
	return nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *priorityField) UnmarshalJSON(b []byte) error { return jsonv1.Unmarshal(b, p) }

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
