package webhook_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/webhook"
)

func TestHeader(t *testing.T) {
	h := http.Header{"X-Canonical": {"a"}, "x-lower-case": {"b"}, "X-Empty": {}}
	for _, tt := range []struct{ name, want string }{
		{"x-canonical", "a"}, {"X-Canonical", "a"}, {"X-LOWER-CASE", "b"}, {"x-empty", ""}, {"missing", ""},
	} {
		if got := webhook.Header(h, tt.name); got != tt.want {
			t.Errorf("Header(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseSecret(t *testing.T) {
	kinds := []string{webhook.KindHMAC, webhook.KindBearer, webhook.KindBasic}
	for _, tt := range []struct {
		in      string
		want    webhook.Secret
		wantErr string
	}{
		{in: "s3cret", want: webhook.Secret{Kind: "hmac", Value: "s3cret"}},
		{in: " Bearer:tok ", want: webhook.Secret{Kind: "bearer", Value: "tok"}},
		{in: "HMAC:key:with:colons", want: webhook.Secret{Kind: "hmac", Value: "key:with:colons"}},
		{in: "basic:alice:pw:x", want: webhook.Secret{Kind: "basic", User: "alice", Value: "pw:x"}},
		{in: "other:thing", want: webhook.Secret{Kind: "hmac", Value: "other:thing"}},
		{in: "", wantErr: "Secret is empty"},
		{in: "bearer:", wantErr: `Secret of kind "bearer" is empty`},
		{in: "basic:alice", wantErr: "basic:<user>:<password>"},
		{in: "basic::pw", wantErr: "basic:<user>:<password>"},
		{in: "tok\x00en", wantErr: "control characters"},
	} {
		got, err := webhook.ParseSecret(tt.in, kinds...)
		if tt.wantErr != "" {
			var se *sdk.Error
			if !errors.As(err, &se) || se.Code != sdk.CodeInvalid || !strings.Contains(se.Message, tt.wantErr) {
				t.Errorf("ParseSecret(%q) = %v, %v; want CodeInvalid %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSecret(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	if s := (webhook.Secret{Kind: "bearer", Value: "hunter2"}).String(); strings.Contains(s, "hunter2") {
		t.Errorf("Secret.String shows the value: %s", s)
	}
}

func TestAuthorization(t *testing.T) {
	bearer := webhook.Secret{Kind: "bearer", Value: "0123456789abcdef"}
	basic := webhook.Secret{Kind: "basic", User: "am", Value: "pw"}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tt := range []struct {
		header string
		sec    webhook.Secret
		want   bool
	}{
		{"Bearer 0123456789abcdef", bearer, true},
		{"bearer  0123456789abcdef ", bearer, true},
		{"Bearer 0123456789abcdeF", bearer, false},
		{"Bearer ", bearer, false},
		{"Basic " + b64("am:pw"), basic, true},
		{"Basic " + b64("am:pwx"), basic, false},
		{"Basic " + b64("a:mpw"), basic, false},
		{"Basic !!!", basic, false},
		{"Basic " + b64("am:pw"), bearer, false},
		{"", bearer, false},
	} {
		h := http.Header{"authorization": {tt.header}}
		if got := webhook.Authorization(h, tt.sec); got != tt.want {
			t.Errorf("Authorization(%q, %v) = %v, want %v", tt.header, tt.sec, got, tt.want)
		}
	}
}

func TestHMAC(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := webhook.HMAC{SignatureHeader: "X-Sig", TimestampHeader: "X-Ts", MaxAge: time.Minute, Now: func() time.Time { return now }}
	body := []byte(`{"a":1}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	old := strconv.FormatInt(now.Add(-2*time.Minute).Unix(), 10)
	// Known answers, computed independently (Python's hmac).
	if got := s.Sign("key", "", body); got != "88a67f24bbcdaed0e6c997404bb79a743baf44c6bab2f4c27328e3009d22e342" {
		t.Errorf("Sign(body) = %s", got)
	}
	if got := s.Sign("key", ts, body); got != "ba2e91a1c006db43265dd2b67e179429a9e29cf81ab88294ad07ec4e03b6c5a3" {
		t.Errorf("Sign(timestamp:body) = %s", got)
	}
	for _, tt := range []struct {
		name string
		hdr  http.Header
		body []byte
		want error
	}{
		{"body only", http.Header{"X-Sig": {s.Sign("key", "", body)}}, body, nil},
		{"upper-case hex", http.Header{"X-Sig": {upper(s.Sign("key", "", body))}}, body, nil},
		{"timestamp", http.Header{"X-Sig": {s.Sign("key", ts, body)}, "X-Ts": {ts}}, body, nil},
		{"timestamp unsigned", http.Header{"X-Sig": {s.Sign("key", "", body)}, "X-Ts": {ts}}, body, webhook.ErrMismatch},
		{"stale", http.Header{"X-Sig": {s.Sign("key", old, body)}, "X-Ts": {old}}, body, webhook.ErrStale},
		{"bad timestamp", http.Header{"X-Sig": {s.Sign("key", "x", body)}, "X-Ts": {"x"}}, body, webhook.ErrStale},
		{"wrong key", http.Header{"X-Sig": {s.Sign("other", "", body)}}, body, webhook.ErrMismatch},
		{"tampered", http.Header{"X-Sig": {s.Sign("key", "", body)}}, append(body, ' '), webhook.ErrMismatch},
		{"missing", http.Header{}, body, webhook.ErrNoSignature},
	} {
		if err := s.Verify(tt.hdr, tt.body, "key"); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 32
		}
	}
	return string(b)
}

func TestAuthenticate(t *testing.T) {
	kinds := []string{webhook.KindBearer}
	match := func(s webhook.Secret) bool { return s.Value == "good" }
	for _, tt := range []struct {
		name         string
		req          *sdk.WebhookRequest
		wantVerified bool
		wantCode     sdk.Code
	}{
		{"first secret", &sdk.WebhookRequest{Secrets: []string{"good", "other"}}, true, ""},
		{"second secret (rotation)", &sdk.WebhookRequest{Secrets: []string{"old", "bearer:good"}}, true, ""},
		{"no match", &sdk.WebhookRequest{Secrets: []string{"old"}}, false, sdk.CodeUnauthenticated},
		{"no secret", &sdk.WebhookRequest{}, false, sdk.CodeUnauthenticated},
		{"only unusable secrets", &sdk.WebhookRequest{Secrets: []string{"", "bearer:"}}, false, sdk.CodeUnauthenticated},
		{"unsigned allowed", &sdk.WebhookRequest{AllowUnsigned: true}, false, ""},
		{"secret wins over unsigned", &sdk.WebhookRequest{Secrets: []string{"old"}, AllowUnsigned: true}, false, sdk.CodeUnauthenticated},
		{"nil", nil, false, sdk.CodeInvalid},
	} {
		v, err := webhook.Authenticate(tt.req, kinds, webhook.Policy{}, match)
		if v != tt.wantVerified || (tt.wantCode == "") != (err == nil) || (err != nil && sdk.ErrorCode(err) != tt.wantCode) {
			t.Errorf("%s: Authenticate = %v, %v; want %v, code %q", tt.name, v, err, tt.wantVerified, tt.wantCode)
		}
	}
}

func TestText(t *testing.T) {
	for _, tt := range []struct {
		in   string
		max  int
		want string
	}{
		{"  plain  ", 0, "plain"},
		{"bad\xffutf8", 0, "badutf8"},
		{"ctl\x00\x1b[31mred\nline\ttab", 0, "ctl[31mred\nline\ttab"},
		{"héllo", 2, "h"},
		{"héllo", 3, "hé"},
		{"日本語", 4, "日"},
	} {
		if got := webhook.Text(tt.in, tt.max); got != tt.want {
			t.Errorf("Text(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
	if got := webhook.Link("javascript:alert(1)", "/relative", " https://ok.example/x "); got != "https://ok.example/x" {
		t.Errorf("Link = %q", got)
	}
	if got := webhook.First("", "  ", " b ", "c"); got != "b" {
		t.Errorf("First = %q", got)
	}
}

func TestLenientJSON(t *testing.T) {
	var v struct {
		S  webhook.String `json:"s"`
		N  webhook.String `json:"n"`
		O  webhook.String `json:"o"`
		I  webhook.Int    `json:"i"`
		IS webhook.Int    `json:"is"`
		B  webhook.Bool   `json:"b"`
		T  webhook.Time   `json:"t"`
		Z  webhook.Time   `json:"z"`
		L  webhook.Labels `json:"l"`
		LA webhook.Labels `json:"la"`
		A  webhook.Array  `json:"a"`
		Ob webhook.Object `json:"ob"`
	}
	body := `{"s":"x","n":1.5,"o":{"k":1},"i":"42","is":7.9,"b":"true","t":"2024-05-01T10:00:00+02:00","z":"0001-01-01T00:00:00Z",
		"l":{"a":"1","b":2,"c":null,"d":{"x":1},"e":""},"la":[1],"a":{"x":1},"ob":[1]}`
	if err := webhook.DecodeObject([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if v.S != "x" || v.N != "1.5" || v.O != "" || v.I != 42 || v.IS != 7 || !bool(v.B) {
		t.Errorf("scalars: %+v", v)
	}
	if want := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC); !v.T.T().Equal(want) || v.T.T().Location() != time.UTC || !v.Z.T().IsZero() {
		t.Errorf("times: %v %v", v.T.T(), v.Z.T())
	}
	if len(v.L) != 2 || v.L["a"] != "1" || v.L["b"] != "2" || v.LA != nil || v.A != nil || v.Ob != nil {
		t.Errorf("labels/arrays: %+v %+v %+v %+v", v.L, v.LA, v.A, v.Ob)
	}
	for _, tt := range []struct{ body, want string }{
		{"", "Empty webhook body"}, {"  [1]", "must be a JSON object"}, {`{"a":`, "not valid JSON"},
	} {
		err := webhook.DecodeObject([]byte(tt.body), &v)
		var se *sdk.Error
		if !errors.As(err, &se) || se.Code != sdk.CodeInvalid || !strings.Contains(se.Message, tt.want) {
			t.Errorf("DecodeObject(%q) = %v, want CodeInvalid %q", tt.body, err, tt.want)
		}
	}
}

func TestAlertHelpers(t *testing.T) {
	for word, want := range map[string]string{"CRITICAL": "critical", " warning ": "medium", "P2": "high", "info": "low", "weird": ""} {
		if got := webhook.DefaultSeverities.Severity(word); got != want {
			t.Errorf("Severity(%q) = %q, want %q", word, got, want)
		}
	}
	if webhook.Urgency(sdk.SeverityCritical) != sdk.UrgencyHigh || webhook.Urgency(sdk.SeverityHigh) != sdk.UrgencyLow {
		t.Error("Urgency")
	}
	fs := webhook.Fields("labels", map[string]string{"b": "2", "a": `"q"`})
	if len(fs) != 2 || fs[0].ID != "labels.a" || string(fs[0].ValueJSON) != `"\"q\""` || fs[1].Namespace != "labels" {
		t.Errorf("Fields = %+v", fs)
	}
	var s string
	if json.Unmarshal(fs[0].ValueJSON, &s) != nil || s != `"q"` {
		t.Errorf("Fields value %s does not round-trip", fs[0].ValueJSON)
	}
	// Prometheus' signature of {alertname="up"}: FNV-1a("alertname\xffup\xff").
	if got := webhook.Fingerprint(map[string]string{"alertname": "up"}); got != webhook.Fingerprint(map[string]string{"alertname": "up"}) || len(got) != 16 {
		t.Errorf("Fingerprint = %q", got)
	}
	if webhook.Fingerprint(map[string]string{"a": "bc"}) == webhook.Fingerprint(map[string]string{"ab": "c"}) {
		t.Error("Fingerprint is ambiguous")
	}
	evs := webhook.Unique([]sdk.Event{{ID: "a"}, {ID: "b"}, {ID: "a"}, {ID: "c"}, {ID: "b"}})
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Errorf("Unique = %v", ids)
	}
}

// TestStringMatchesEncodingJSON: String's fast path for plain strings gives
// exactly what encoding/json decodes, for plain, escaped, control, invalid
// UTF-8 and unterminated strings.
func TestStringMatchesEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`""`, `"plain"`, `"with space and ünïcödé ✓"`, `"esc\"aped"`, `"back\\slash"`, `"\u00e9"`, `"tab\tin"`,
		"\"raw\ttab\"", "\"bad \xff utf8\"", "\"cut \xe2\x82\"", `"unterminated`, `"`, `"a"b"`, `"\/"`,
	} {
		t.Run(in, func(t *testing.T) {
			var want string
			if json.Unmarshal([]byte(in), &want) != nil {
				want = ""
			}
			var got webhook.String
			if err := got.UnmarshalJSON([]byte(in)); err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Fatalf("String(%q) = %q, encoding/json gives %q", in, got, want)
			}
		})
	}
}
