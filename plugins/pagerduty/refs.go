package pagerduty

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/webhook"
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
	var items webhook.Array
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
