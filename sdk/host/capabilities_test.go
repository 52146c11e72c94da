package host_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/host"
)

// TestClientCoversEveryCapability: the hub's client (and Local) offer every
// capability of the SDK's table, so a capability added there cannot be
// forgotten here.
func TestClientCoversEveryCapability(t *testing.T) {
	for _, c := range sdk.AllCapabilities() {
		iface := sdk.CapabilityType(c)
		for _, typ := range []reflect.Type{reflect.TypeFor[host.Capabilities](), reflect.TypeFor[*host.Client](), reflect.TypeFor[*host.Local]()} {
			if !typ.Implements(iface) {
				t.Errorf("%s does not implement %s (capability %q)", typ, iface, c)
			}
		}
	}
}

type panicky struct{}

func (panicky) Manifest() sdk.Manifest {
	return sdk.Manifest{Name: "p", DisplayName: "P", Version: "1"}
}

func (panicky) HandleWebhook(context.Context, *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	panic("boom")
}

func (panicky) ValidateWebhookSecret(context.Context, string) error { panic("boom") }

// TestLocalRecoversPanics: an in-process provider's panic answers
// CodeInternal, as over gRPC, instead of taking the hub down.
func TestLocalRecoversPanics(t *testing.T) {
	l := host.NewLocal(panicky{})
	if _, err := l.HandleWebhook(context.Background(), &sdk.WebhookRequest{}); sdk.ErrorCode(err) != sdk.CodeInternal {
		t.Errorf("HandleWebhook = %v, want %s", err, sdk.CodeInternal)
	}
	if err := l.ValidateWebhookSecret(context.Background(), "x"); sdk.ErrorCode(err) != sdk.CodeInternal {
		t.Errorf("ValidateWebhookSecret = %v, want %s", err, sdk.CodeInternal)
	}
}
