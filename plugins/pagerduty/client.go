package pagerduty

// The REST client is hand-written rather than github.com/PagerDuty/go-pagerduty
// because go-pagerduty's error handling cannot represent what PagerDuty really
// answers (checked against its client.go): it decodes `error` only as an
// object whose `errors` is []string, so the account-level 400 from /users/me
// (where `error` is a plain string) and bodies whose `errors` is a string or an
// object come back as "JSON error object decode failed" with PagerDuty's
// message lost; a body not declared application/json is reduced to its status
// code; its APIError carries no headers, so ratelimit-reset never reaches the
// caller of its typed methods; error bodies are neither size-limited nor, on
// that non-JSON path, closed; and NewOAuthClient drops its options, so an OAuth
// client cannot be pointed at the EU region or a simulator.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/webhook"
	"github.com/hashicorp/go-hclog"
)

const (
	// maxBodyBytes bounds every response body the client reads.
	maxBodyBytes = 4 << 20
	// maxErrorBodyBytes bounds what is read of an error body.
	maxErrorBodyBytes = 64 << 10
	// drainBytes is how much of an unread body is discarded so the
	// connection can be reused; larger leftovers just close it.
	drainBytes   = 256 << 10
	acceptHeader = "application/vnd.pagerduty+json;version=2"
	// defaultRetryAfter is used when a 429 carries no usable reset header.
	defaultRetryAfter = 60 * time.Second
	maxRetryAfter     = time.Hour
)

var userAgent = "aurora-hub-pagerduty/" + Version + " (+https://github.com/aurora-hub/aurora-hub)"

// client makes REST calls with one set of credentials.
type client struct {
	http  *http.Client
	base  string
	creds sdk.Credentials
	log   hclog.Logger
	// calls counts the requests sent (not safe for concurrent use; each
	// caller makes its own client).
	calls int
}

func (p *Provider) client(creds sdk.Credentials) *client {
	creds.Token = strings.TrimSpace(creds.Token)
	return &client{http: p.http, base: p.cfg.APIURL, creds: creds, log: p.log}
}

// apiError is a non-2xx answer from PagerDuty, classified leniently.
type apiError struct {
	Method     string
	Path       string
	Status     int
	Code       int      // PagerDuty's error code (2001, 2006, ...), 0 if none
	Message    string   // error message, from whatever shape the body had
	Errors     []string // detail messages
	StringForm bool     // `error` was a plain string (the account-level shape)
	RetryAfter time.Duration
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pagerduty: %s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if len(e.Errors) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(e.Errors, "; "))
	}
	return b.String()
}

// text is everything the error says, for matching.
func (e *apiError) text() string {
	return strings.ToLower(e.Message + " " + strings.Join(e.Errors, " "))
}

// transportError is a request that got no HTTP answer (or an unreadable one).
type transportError struct {
	Method, Path string
	Err          error
}

func (e *transportError) Error() string {
	return fmt.Sprintf("pagerduty: %s %s: %v", e.Method, e.Path, e.Err)
}
func (e *transportError) Unwrap() error { return e.Err }

func asAPIError(err error) (*apiError, bool) {
	var ae *apiError
	ok := errors.As(err, &ae)
	return ae, ok
}

func statusOf(err error) int {
	if ae, ok := asAPIError(err); ok {
		return ae.Status
	}
	return 0
}

// get decodes GET path?query into out (if non-nil).
func (c *client) get(ctx context.Context, path string, query url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, query, nil, out)
}

// do performs one request. body (if non-nil) is sent as JSON; a 2xx answer is
// decoded into out (if non-nil); anything else is an *apiError or a
// *transportError. The response body is always size-limited, drained and closed.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return &transportError{Method: method, Path: path, Err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return &transportError{Method: method, Path: path, Err: err}
	}
	req.Header.Set("Accept", acceptHeader)
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.creds.Kind == sdk.AuthOAuth {
		req.Header.Set("Authorization", "Bearer "+c.creds.Token)
	} else {
		req.Header.Set("Authorization", "Token token="+c.creds.Token)
	}
	if from := c.creds.Fields["from"]; from != "" && method != http.MethodGet {
		req.Header.Set("From", from)
	}
	c.calls++
	resp, err := c.http.Do(req)
	if err != nil {
		return &transportError{Method: method, Path: path, Err: c.redactErr(err)}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
		ae := parseErrorBody(raw)
		ae.Method, ae.Path, ae.Status = method, path, resp.StatusCode
		ae.Message, ae.Errors = c.redact(ae.Message), redactAll(c, ae.Errors)
		if resp.StatusCode == http.StatusTooManyRequests {
			ae.RetryAfter = retryAfter(resp.Header, time.Now())
		}
		return ae
	}
	if out == nil {
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return &transportError{Method: method, Path: path, Err: c.redactErr(err)}
	}
	if len(raw) > maxBodyBytes {
		return &transportError{Method: method, Path: path, Err: fmt.Errorf("response body larger than %d bytes", maxBodyBytes)}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &transportError{Method: method, Path: path, Err: fmt.Errorf("decoding response: %w", err)}
	}
	return nil
}

// redact removes the token from text that may echo it (a server that quotes
// the Authorization header back, a URL error).
func (c *client) redact(s string) string {
	if c.creds.Token == "" || len(c.creds.Token) < 4 {
		return s
	}
	return strings.ReplaceAll(s, c.creds.Token, "[redacted]")
}

func (c *client) redactErr(err error) error {
	if err == nil || c.creds.Token == "" || !strings.Contains(err.Error(), c.creds.Token) {
		return err
	}
	return errors.New(c.redact(err.Error()))
}

func redactAll(c *client, ss []string) []string {
	for i := range ss {
		ss[i] = c.redact(ss[i])
	}
	return ss
}

// retryAfter reads ratelimit-reset (seconds) or Retry-After (seconds or an
// HTTP date), defaulting to a minute, clamped to [1 s, 1 h].
func retryAfter(h http.Header, now time.Time) time.Duration {
	d := time.Duration(-1)
	if v := strings.TrimSpace(h.Get("Ratelimit-Reset")); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f < 1e6 {
			d = time.Duration(f * float64(time.Second))
		}
	}
	if d < 0 {
		if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
			if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n < 1e6 {
				d = time.Duration(n * float64(time.Second))
			} else if t, err := http.ParseTime(v); err == nil {
				d = t.Sub(now)
			}
		}
	}
	switch {
	case d < 0:
		return defaultRetryAfter
	case d < time.Second:
		return time.Second
	case d > maxRetryAfter:
		return maxRetryAfter
	}
	return d.Round(time.Second)
}

// parseErrorBody classifies an error body of any shape: the documented
// {"error":{"message","code","errors"}}, `error` as a string or an array,
// `errors` as a string, object or array, top-level message/code, a bare JSON
// string, or text that is not JSON at all. It never fails.
func parseErrorBody(raw []byte) *apiError {
	ae := &apiError{}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ae
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		ae.Message = snippet(string(raw))
		return ae
	}
	switch t := v.(type) {
	case map[string]any:
		if e, ok := t["error"]; ok {
			if s, isString := e.(string); isString {
				ae.StringForm = true
				ae.Message = snippet(s)
			} else {
				absorbError(ae, e)
			}
		}
		if e, ok := t["errors"]; ok {
			ae.Errors = append(ae.Errors, flattenStrings(e)...)
		}
		if ae.Message == "" {
			ae.Message = snippet(scalarString(t["message"]))
		}
		if ae.Code == 0 {
			ae.Code = intOf(t["code"])
		}
	default:
		absorbError(ae, v)
	}
	if ae.Message == "" && len(ae.Errors) > 0 {
		ae.Message = ae.Errors[0]
	}
	if len(ae.Errors) > 10 {
		ae.Errors = ae.Errors[:10]
	}
	return ae
}

// absorbError takes message, code and errors from an `error` value of any shape.
func absorbError(ae *apiError, e any) {
	switch t := e.(type) {
	case map[string]any:
		if ae.Message == "" {
			ae.Message = snippet(scalarString(t["message"]))
		}
		if ae.Code == 0 {
			ae.Code = intOf(t["code"])
		}
		if errs, ok := t["errors"]; ok {
			ae.Errors = append(ae.Errors, flattenStrings(errs)...)
		}
	case []any:
		for _, item := range t {
			absorbError(ae, item)
		}
	case nil:
	default:
		if s := snippet(scalarString(t)); s != "" {
			if ae.Message == "" {
				ae.Message = s
			} else {
				ae.Errors = append(ae.Errors, s)
			}
		}
	}
}

// flattenStrings turns a string, an array or an object (its values, in key
// order as decoded) into messages.
func flattenStrings(v any) []string {
	var out []string
	var walk func(any, int)
	walk = func(v any, depth int) {
		if depth > 4 || len(out) >= 10 {
			return
		}
		switch t := v.(type) {
		case []any:
			for _, x := range t {
				walk(x, depth+1)
			}
		case map[string]any:
			if m := scalarString(t["message"]); m != "" {
				out = append(out, snippet(m))
				return
			}
			for k, x := range t {
				if s := scalarString(x); s != "" {
					out = append(out, snippet(k+": "+s))
				} else {
					walk(x, depth+1)
				}
			}
		default:
			if s := scalarString(t); s != "" {
				out = append(out, snippet(s))
			}
		}
	}
	walk(v, 0)
	return out
}

func scalarString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	return ""
}

func intOf(v any) int {
	switch t := v.(type) {
	case json.Number:
		if n, err := t.Int64(); err == nil && n > 0 && n < 1<<31 {
			return int(n)
		}
		if f, err := t.Float64(); err == nil && f > 0 && f < 1<<31 {
			return int(f)
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(t)); err == nil && n > 0 && n < 1<<31 {
			return n
		}
	}
	return 0
}

// snippet trims s to one short line, for messages and logs.
func snippet(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

const (
	pageLimit = 100
	// maxListItems caps how much one list call gathers (PagerDuty refuses
	// offset+limit above 10,000 anyway).
	maxListItems = 1000
)

// list pages through GET path (limit 100) and returns the raw items of the
// array under key, up to max items. truncated says the cap was hit.
func (c *client) list(ctx context.Context, path string, query url.Values, key string, max int) (items []json.RawMessage, truncated bool, err error) {
	if max <= 0 || max > maxListItems {
		max = maxListItems
	}
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	offset := 0
	for {
		q.Set("limit", strconv.Itoa(pageLimit))
		q.Set("offset", strconv.Itoa(offset))
		var page map[string]json.RawMessage
		if err := c.get(ctx, path, q, &page); err != nil {
			return items, false, err
		}
		var arr []json.RawMessage
		_ = json.Unmarshal(page[key], &arr) // not an array: no items
		items = append(items, arr...)
		var more webhook.Bool
		_ = json.Unmarshal(page["more"], &more) // absent or odd: no more pages
		if len(items) >= max {
			return items[:max], bool(more) || len(items) > max, nil
		}
		if !bool(more) || len(arr) == 0 {
			return items, false, nil
		}
		offset += len(arr)
		if offset+pageLimit > 10000 {
			return items, true, nil
		}
	}
}
