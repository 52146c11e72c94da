package alertmanager

import (
	"context"
	"testing"

	"github.com/aurora-hub/aurora-hub/sdk"
)

func TestValidateCredentials(t *testing.T) {
	tests := []struct {
		name      string
		creds     sdk.Credentials
		wantMsg   string // "" = valid
		subdomain string
		user      string
	}{
		{name: "bearer", creds: sdk.Credentials{Kind: AuthBearer, Token: "0123456789abcdef"}, subdomain: "alertmanager"},
		{name: "bearer too short", creds: sdk.Credentials{Kind: AuthBearer, Token: "0123456789abcde"}, wantMsg: msgBearerTooShort},
		{name: "basic", creds: sdk.Credentials{Kind: AuthBasic, Token: "am:s3cret"}, subdomain: "alertmanager", user: "am"},
		{name: "basic with colons in the password", creds: sdk.Credentials{Kind: AuthBasic, Token: "am:a:b"}, subdomain: "alertmanager", user: "am"},
		{name: "basic without password", creds: sdk.Credentials{Kind: AuthBasic, Token: "am:"}, wantMsg: msgBasicShape},
		{name: "basic without user", creds: sdk.Credentials{Kind: AuthBasic, Token: ":pw"}, wantMsg: msgBasicShape},
		{name: "basic without colon", creds: sdk.Credentials{Kind: AuthBasic, Token: "am"}, wantMsg: msgBasicShape},
		{name: "api_token, bearer form", creds: sdk.Credentials{Kind: sdk.AuthAPIToken, Token: "bearer:0123456789abcdef"}, subdomain: "alertmanager"},
		{name: "api_token, basic form", creds: sdk.Credentials{Kind: sdk.AuthAPIToken, Token: "basic:am:pw"}, subdomain: "alertmanager", user: "am"},
		{name: "api_token, bare token", creds: sdk.Credentials{Kind: sdk.AuthAPIToken, Token: "0123456789abcdef"}, subdomain: "alertmanager"},
		{name: "api_token, basic without password", creds: sdk.Credentials{Kind: sdk.AuthAPIToken, Token: "basic:am"}, wantMsg: msgBasicShape},
		{name: "no kind, short bare token", creds: sdk.Credentials{Token: "short"}, wantMsg: msgBearerTooShort},
		{name: "empty", creds: sdk.Credentials{Kind: AuthBearer}, wantMsg: msgTokenRequired},
		{name: "blank", creds: sdk.Credentials{Kind: AuthBasic, Token: " \t"}, wantMsg: msgTokenRequired},
		{name: "control characters", creds: sdk.Credentials{Kind: AuthBearer, Token: "0123456789abcdef\r\nX-Evil: 1"}, wantMsg: msgControlChars},
		{name: "other kind", creds: sdk.Credentials{Kind: sdk.AuthOAuth, Token: "0123456789abcdef"}, wantMsg: `Unsupported credential kind "oauth": use "bearer" or "basic"`},
		{name: "external_url", creds: sdk.Credentials{Kind: AuthBearer, Token: "0123456789abcdef", Fields: map[string]string{"external_url": "https://am.example.com:9093/"}}, subdomain: "am.example.com"},
		{name: "bad external_url", creds: sdk.Credentials{Kind: AuthBearer, Token: "0123456789abcdef", Fields: map[string]string{"external_url": "am.example.com"}}, wantMsg: `external_url "am.example.com" is not an absolute URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New().ValidateCredentials(context.Background(), tt.creds)
			if tt.wantMsg != "" {
				wantSDKError(t, err, sdk.CodeInvalid, tt.wantMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			id := v.Identity
			if id.AccountSubdomain != tt.subdomain || !id.AccountLevel || !v.Capabilities["can_receive_alerts"] {
				t.Errorf("validation = %+v", v)
			}
			if (id.UserName == nil) != (tt.user == "") || (id.UserName != nil && *id.UserName != tt.user) {
				t.Errorf("UserName = %v, want %q", id.UserName, tt.user)
			}
			if id.UserEmail != nil || id.UserID != nil {
				t.Errorf("identity claims a user: %+v", id)
			}
		})
	}
}
