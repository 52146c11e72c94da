package sdk_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aurora-hub/aurora-hub/sdk"
)

type base struct{ caps []string }

func (b base) Manifest() sdk.Manifest {
	return sdk.Manifest{Name: "x", DisplayName: "X", Version: "1", Capabilities: b.caps}
}

// misspelled means to handle webhooks but spelled the method wrong.
type misspelled struct{ base }

func (misspelled) HandleWebHook(context.Context, *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	return nil, nil
}

// wrongArgs takes the request by value.
type wrongArgs struct{ base }

func (wrongArgs) HandleWebhook(context.Context, sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	return nil, nil
}

// halfProvisioner lacks PingWebhookSubscription.
type halfProvisioner struct{ base }

func (halfProvisioner) CreateWebhookSubscription(context.Context, *sdk.SubscriptionRequest) (*sdk.Subscription, error) {
	return nil, nil
}

func (halfProvisioner) DeleteWebhookSubscription(context.Context, sdk.Credentials, string) error {
	return nil
}

type hooks struct{ base }

func (hooks) HandleWebhook(context.Context, *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	return nil, nil
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		p        sdk.Provider
		wantErr  []string // substrings; none: Check passes
		wantCaps []string
	}{
		{"nothing", base{}, nil, nil},
		{"webhooks", hooks{}, nil, []string{sdk.CapabilityWebhooks}},
		{"declared and implemented", hooks{base{[]string{"webhooks"}}}, nil, []string{sdk.CapabilityWebhooks}},
		{"declared, not implemented", base{[]string{"webhooks"}}, []string{`declares capability "webhooks"`, "sdk.WebhookHandler", "missing HandleWebhook"}, nil},
		{"unknown capability", base{[]string{"webhook"}}, []string{`unknown capability "webhook"`}, nil},
		{"misspelled method", misspelled{}, []string{"method HandleWebHook", "sdk.WebhookHandler.HandleWebhook", `lacks capability "webhooks"`}, nil},
		{"wrong signature", wrongArgs{}, []string{"method HandleWebhook(context.Context, sdk.WebhookRequest)"}, nil},
		{"partial interface", halfProvisioner{}, []string{"lacks PingWebhookSubscription", `capability "provisioning"`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sdk.Implemented(tc.p); !slices.Equal(got, tc.wantCaps) {
				t.Errorf("Implemented = %v, want %v", got, tc.wantCaps)
			}
			err := sdk.Check(tc.p)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check = nil, want an error containing %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check = %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestCapabilityTableIsComplete(t *testing.T) {
	caps := sdk.AllCapabilities()
	want := []string{sdk.CapabilityAuth, sdk.CapabilityWebhooks, sdk.CapabilityWebhookSecrets, sdk.CapabilityOAuth, sdk.CapabilityProvisioning, sdk.CapabilityEnrichment}
	if !slices.Equal(caps, want) {
		t.Fatalf("AllCapabilities = %v, want %v", caps, want)
	}
	for _, c := range caps {
		if sdk.CapabilityInterface(c) == "" {
			t.Errorf("capability %q has no interface", c)
		}
	}
}
