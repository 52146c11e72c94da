package sdk_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/sdktest"
	"github.com/hashicorp/go-hclog"
)

// panicky panics in every call whose input says "panic".
type panicky struct{}

func (panicky) Manifest() sdk.Manifest {
	return sdk.Manifest{Name: "panicky", DisplayName: "Panicky", Version: "1.0.0", AuthKinds: []string{sdk.AuthAPIToken}}
}

func (panicky) ValidateCredentials(_ context.Context, c sdk.Credentials) (*sdk.Validation, error) {
	if c.Token == "panic" {
		var m map[string]int
		m["boom"]++ // a nil map write: the kind of bug a real plugin has
	}
	return &sdk.Validation{}, nil
}

func (panicky) HandleWebhook(_ context.Context, r *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	if string(r.Body) == "panic" {
		panic("delivery handler exploded")
	}
	return &sdk.WebhookResult{Verified: true}, nil
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestPanicAnswersInternalAndKeepsServing: over go-plugin's real gRPC, a
// panicking method answers CodeInternal, the stack lands in the plugin's log,
// and the same plugin answers the next calls.
func TestPanicAnswersInternalAndKeepsServing(t *testing.T) {
	var logs syncBuffer
	c := sdktest.Start(t, panicky{}, hclog.New(&hclog.LoggerOptions{Output: &logs, JSONFormat: true}))
	ctx := context.Background()
	for round := range 2 {
		_, err := c.ValidateCredentials(ctx, sdk.Credentials{Token: "panic"})
		if code := sdk.ErrorCode(err); code != sdk.CodeInternal {
			t.Fatalf("round %d: panicking ValidateCredentials answered %v (code %s), want %s", round, err, code, sdk.CodeInternal)
		}
		if _, err := c.ValidateCredentials(ctx, sdk.Credentials{Token: "fine"}); err != nil {
			t.Fatalf("round %d: the plugin stopped serving after a panic: %v", round, err)
		}
		// Concurrent deliveries go out as one HandleWebhooks batch: the panic
		// fails its own delivery only.
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				body := "ok"
				if i == 3 {
					body = "panic"
				}
				_, errs[i] = c.HandleWebhook(ctx, &sdk.WebhookRequest{Body: []byte(body)})
			})
		}
		wg.Wait()
		for i, err := range errs {
			switch {
			case i == 3 && sdk.ErrorCode(err) != sdk.CodeInternal:
				t.Errorf("round %d: panicking delivery answered %v, want %s", round, err, sdk.CodeInternal)
			case i != 3 && err != nil:
				t.Errorf("round %d: delivery %d beside a panicking one failed: %v", round, i, err)
			}
		}
	}
	out := logs.String()
	for _, want := range []string{"panic in provider method", "assignment to entry in nil map", "delivery handler exploded", "recover_test.go"} {
		if !strings.Contains(out, want) {
			t.Errorf("plugin log lacks %q:\n%s", want, out)
		}
	}
}
