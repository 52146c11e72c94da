package sdktest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
)

// fake is a tiny provider: HMAC-signed JSON webhooks {"id","type","title"}
// and token validation. Its bugs switch on the mistakes the suite must catch.
type fake struct {
	manifest sdk.Manifest
	bugs     map[string]bool
	calls    atomic.Int64
}

const fakeSecret = "fake-secret"

func newFake(bugs ...string) *fake {
	f := &fake{
		manifest: sdk.Manifest{Name: "fake", DisplayName: "Fake", Version: "1.0.0", AuthKinds: []string{sdk.AuthAPIToken}, ConfigKeys: []string{"FAKE_URL"}},
		bugs:     map[string]bool{},
	}
	for _, b := range bugs {
		f.bugs[b] = true
	}
	return f
}

func (f *fake) Manifest() sdk.Manifest { return f.manifest }

func (f *fake) ValidateCredentials(_ context.Context, c sdk.Credentials) (*sdk.Validation, error) {
	switch {
	case c.Token == "" && !f.bugs["accept-empty-token"]:
		return nil, sdk.Errorf(sdk.CodeInvalid, "Token required")
	case c.Token == "slow-down":
		return nil, &sdk.Error{Code: sdk.CodeRateLimited, Message: "Rate limited", RetryAfter: 7 * time.Second}
	}
	return &sdk.Validation{Identity: sdk.Identity{AccountSubdomain: "fake"}}, nil
}

func fakeSign(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func (f *fake) HandleWebhook(_ context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	if len(req.Body) == 0 && f.bugs["panic-empty"] {
		panic("empty body")
	}
	verified := false
	switch {
	case len(req.Secrets) == 0 && !req.AllowUnsigned:
		return nil, sdk.Errorf(sdk.CodeUnauthenticated, "No signing secret configured")
	case len(req.Secrets) == 0:
		verified = f.bugs["verified-unsigned"]
	case f.bugs["no-auth"]:
		verified = true
	default:
		got, _ := hex.DecodeString(req.HeaderValue("X-Fake-Signature"))
		for _, s := range req.Secrets {
			want, _ := hex.DecodeString(fakeSign(req.Body, s))
			verified = verified || hmac.Equal(got, want)
		}
		if !verified {
			return nil, sdk.Errorf(sdk.CodeUnauthenticated, "Invalid webhook signature")
		}
	}
	var body struct{ ID, Type, Title string }
	if err := json.Unmarshal(req.Body, &body); err != nil || body.ID == "" || body.Type == "" {
		switch {
		case f.bugs["plain-error"]:
			return nil, errors.New("json: something went wrong")
		case f.bugs["internal-code"]:
			return nil, sdk.Errorf(sdk.CodeInternal, "oops")
		}
		return nil, sdk.Errorf(sdk.CodeInvalid, "Invalid webhook body")
	}
	ev := sdk.Event{
		ID: body.ID, Type: body.Type, ResourceType: "incident",
		OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)),
		Incident:   &sdk.Incident{ExternalID: body.ID, Title: body.Title},
		Data:       req.Body,
	}
	switch {
	case f.bugs["no-id"]:
		ev.ID = ""
	case f.bugs["random-id"]:
		ev.ID = fmt.Sprint(f.calls.Add(1))
	case f.bugs["bad-utf8"]:
		ev.Incident.Title += "\xff"
	case f.bugs["unsigned-differs"] && !verified:
		ev.Type = "unverified." + ev.Type
	}
	return &sdk.WebhookResult{Verified: verified, Events: []sdk.Event{ev}}, nil
}

const fakeBody = `{"id":"E1","type":"incident.triggered","title":"Disk full"}`

func fakeOptions() ConformanceOptions {
	return ConformanceOptions{
		ValidWebhook: func() *sdk.WebhookRequest {
			return &sdk.WebhookRequest{
				Body:    []byte(fakeBody),
				Header:  map[string][]string{"X-Fake-Signature": {fakeSign([]byte(fakeBody), fakeSecret)}},
				Secrets: []string{"old-secret", fakeSecret},
			}
		},
		ErrorCases: []ErrorCase{
			{
				Name: "rate limited",
				Call: func(ctx context.Context, c *Client) error {
					_, err := c.ValidateCredentials(ctx, sdk.Credentials{Token: "slow-down"})
					return err
				},
				WantCode: sdk.CodeRateLimited, WantMessage: "Rate limited", WantRetryAfter: 7 * time.Second,
			},
		},
	}
}

// recorder collects what the suite reports, keyed by check path.
type recorder struct {
	path  string
	errs  *[]string
	skips *[]string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	*r.errs = append(*r.errs, r.path+": "+fmt.Sprintf(format, args...))
}

func (r *recorder) Skipf(format string, args ...any) {
	*r.skips = append(*r.skips, r.path+": "+fmt.Sprintf(format, args...))
}

func (r *recorder) Run(name string, f func(reporter)) {
	f(&recorder{path: strings.TrimPrefix(r.path+"/"+name, "/"), errs: r.errs, skips: r.skips})
}

// runSuite runs the conformance checks against p and returns the failures
// and skips instead of failing t.
func runSuite(t *testing.T, p sdk.Provider, opts ConformanceOptions) (errs, skips []string) {
	t.Helper()
	s := &suite{p: p, c: Start(t, p), opts: opts}
	s.run(&recorder{errs: &errs, skips: &skips})
	return errs, skips
}

func TestStart(t *testing.T) {
	c := Start(t, newFake())
	ctx := context.Background()
	m, err := c.Describe(ctx)
	if err != nil || m.Name != "fake" || !m.Has(sdk.CapabilityWebhooks) || m.Has(sdk.CapabilityOAuth) {
		t.Fatalf("Describe = %+v, %v", m, err)
	}
	req := fakeOptions().ValidWebhook()
	res, err := c.HandleWebhook(ctx, req)
	if err != nil || !res.Verified || len(res.Events) != 1 || res.Events[0].Incident.Title != "Disk full" {
		t.Fatalf("HandleWebhook = %+v, %v", res, err)
	}
	_, err = c.OAuthConfig(ctx)
	if !sdk.IsUnimplemented(err) {
		t.Fatalf("OAuthConfig = %v, want unimplemented", err)
	}
}

func TestConformance(t *testing.T) {
	Conformance(t, newFake(), fakeOptions())
}

// TestConformanceCatches breaks the fake one way at a time and checks that
// the suite reports it under the right check, and nothing else.
func TestConformanceCatches(t *testing.T) {
	if errs, _ := runSuite(t, newFake(), fakeOptions()); len(errs) > 0 {
		t.Fatalf("the correct fake fails:\n%s", strings.Join(errs, "\n"))
	}
	tests := []struct {
		bug   string
		opts  func(*ConformanceOptions)
		edit  func(*fake)
		check string
		want  string
	}{
		{bug: "panic-empty", check: "Webhook/Garbage", want: "empty body, unsigned allowed: HandleWebhook panicked"},
		{bug: "plain-error", check: "Webhook/Garbage", want: "not an *sdk.Error"},
		{bug: "internal-code", check: "Webhook/Garbage", want: "refused with code internal"},
		{bug: "no-auth", check: "Webhook/Tampered", want: "want code unauthenticated"},
		{bug: "verified-unsigned", check: "Webhook/Unsigned", want: "Verified with no secret"},
		{bug: "no-id", check: "Webhook/Valid", want: "event 0: no ID"},
		{bug: "random-id", check: "Webhook/Valid", want: "redelivery gave"},
		{bug: "bad-utf8", check: "Webhook/Valid", want: "must be valid UTF-8"},
		{bug: "unsigned-differs", check: "Webhook/Unsigned", want: "depend on how the delivery was authenticated"},
		{bug: "accept-empty-token", check: "Credentials", want: `kind "", empty token`},
		{
			check: "Manifest", want: `name "Fake_1" must match`,
			edit: func(f *fake) { f.manifest.Name = "Fake_1" },
		},
		{
			check: "Manifest", want: `config key "HUB_DATABASE_URL" starts with HUB_`,
			edit: func(f *fake) { f.manifest.ConfigKeys = []string{"HUB_DATABASE_URL"} },
		},
		{
			check: "Manifest", want: `config key "fakeUrl" must be UPPER_SNAKE_CASE`,
			edit: func(f *fake) { f.manifest.ConfigKeys = []string{"fakeUrl"} },
		},
		// A manifest declaring a capability the provider lacks never gets
		// this far: sdk.Check fails Start (and Serve), see sdk's TestCheck.
		{
			check: "Manifest", want: "lists OAuth scopes but does not implement OAuthProvider",
			edit: func(f *fake) { f.manifest.OAuthScopes = []string{"read"} },
		},
		{
			check: "Errors/rate limited", want: "code over gRPC = rate_limited",
			opts: func(o *ConformanceOptions) { o.ErrorCases[0].WantCode = sdk.CodeUpstream },
		},
		{
			check: "Webhook/Tampered", want: "want code unauthenticated",
			// A tamper that does not break the signature is the options' bug,
			// but the suite must still say the delivery got through.
			opts: func(o *ConformanceOptions) { o.Tamper = func(*sdk.WebhookRequest) {} },
		},
	}
	for _, tt := range tests {
		name := tt.bug
		if name == "" {
			name = tt.check + ": " + tt.want
		}
		t.Run(name, func(t *testing.T) {
			f := newFake(tt.bug)
			if tt.edit != nil {
				tt.edit(f)
			}
			opts := fakeOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			errs, _ := runSuite(t, f, opts)
			found := false
			for _, e := range errs {
				if strings.HasPrefix(e, tt.check+": ") && strings.Contains(e, tt.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no %q report containing %q; got:\n%s", tt.check, tt.want, strings.Join(errs, "\n"))
			}
		})
	}
}

// webhookOnly implements nothing but webhooks, and refuses everything.
type webhookOnly struct{}

func (webhookOnly) Manifest() sdk.Manifest {
	return sdk.Manifest{Name: "hooks", DisplayName: "Hooks", Version: "0.0.1", ConnectWithoutCredentials: true}
}

func (webhookOnly) HandleWebhook(context.Context, *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	return nil, sdk.Errorf(sdk.CodeInvalid, "Nothing is valid")
}

func TestConformanceSkipsWhatDoesNotApply(t *testing.T) {
	errs, skips := runSuite(t, webhookOnly{}, ConformanceOptions{})
	if len(errs) > 0 {
		t.Fatalf("failures:\n%s", strings.Join(errs, "\n"))
	}
	want := []string{"Credentials", "OAuth", "Webhook/Valid", "Webhook/Tampered", "Webhook/WrongSecret", "Webhook/NoSecret", "Webhook/Unsigned", "Errors"}
	var got []string
	for _, s := range skips {
		got = append(got, s[:strings.Index(s, ":")])
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("skipped %v, want %v", got, want)
	}
}

func TestManifestProblems(t *testing.T) {
	tests := []struct {
		name string
		edit func(*sdk.Manifest)
		want []string
	}{
		{"valid", func(*sdk.Manifest) {}, nil},
		{"empty", func(m *sdk.Manifest) { *m = sdk.Manifest{} }, []string{
			`display name is empty`, `implements CredentialValidator but lists no auth kinds`,
			`name "" must match ^[a-z][a-z0-9-]*$: it is the URL segment /<name> and the binary aurora-plugin-<name>`,
			`version is empty`,
		}},
		{"reserved name", func(m *sdk.Manifest) { m.Name = "incidents" }, []string{`name "incidents" is one of the hub's own routes`}},
		{"long name", func(m *sdk.Manifest) { m.Name = strings.Repeat("a", 64) }, []string{`name "` + strings.Repeat("a", 64) + `" is longer than 63 characters`}},
		{"protocol", func(m *sdk.Manifest) { m.ProtocolVersion = 2 }, []string{`protocol version 2, but this SDK speaks 1 (leave it zero: Serve fills it in)`}},
		{"duplicates", func(m *sdk.Manifest) { m.ConfigKeys = []string{"A_B", "A_B"} }, []string{`config keys repeat [A_B]`}},
		{"auth kind", func(m *sdk.Manifest) { m.AuthKinds = []string{"API Token"} }, []string{`auth kind "API Token" must match ^[a-z][a-z0-9_]*$`}},
		{"event type", func(m *sdk.Manifest) { m.WebhookEventTypes = []string{"a b"} }, []string{`webhook event type "a b" is empty or contains spaces`}},
		{"webhook-only with auth", func(m *sdk.Manifest) { m.ConnectWithoutCredentials = true }, []string{
			`ConnectWithoutCredentials is set but the provider implements CredentialValidator: the hub would never call it`}},
		{"empty setup step", func(m *sdk.Manifest) { m.SetupInstructions = []string{"Open settings.", " "} }, []string{`setup instruction 1 is empty`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			tt.edit(&f.manifest)
			if got := manifestProblems(f); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestGarbage(t *testing.T) {
	a, b := garbage([]byte(fakeBody)), garbage([]byte(fakeBody))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("garbage is not deterministic")
	}
	names := map[string]bool{}
	for _, in := range a {
		if len(in.body) > 256<<10 {
			t.Errorf("%s: %d bytes, more than the hub accepts", in.name, len(in.body))
		}
		if names[in.name] {
			t.Errorf("duplicate input name %q", in.name)
		}
		names[in.name] = true
	}
	for _, want := range []string{"empty body", "deep arrays", "huge string", "invalid UTF-8", ".id replaced by a number", ".type removed", "every member of another type", "array elements of every type"} {
		if !names[want] {
			t.Errorf("no input %q", want)
		}
	}
	if got := len(mutations([]byte(`"not an object"`))); got != 0 {
		t.Errorf("mutations of a scalar = %d", got)
	}
}
