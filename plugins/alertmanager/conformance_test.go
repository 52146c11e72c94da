package alertmanager

import (
	"context"
	"testing"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	body := readFile(t, "firing.json")
	errorCases := []sdktest.ErrorCase{
		{
			Name: "unsupported version",
			Call: func(ctx context.Context, c *sdktest.Client) error {
				_, err := c.HandleWebhook(ctx, &sdk.WebhookRequest{Body: []byte(`{"version":"3","alerts":[]}`), AllowUnsigned: true})
				return err
			},
			WantCode: sdk.CodeInvalid, WantMessage: `Unsupported Alertmanager webhook version "3": this plugin reads version "4"`,
		},
		{
			Name: "no credentials configured",
			Call: func(ctx context.Context, c *sdktest.Client) error {
				_, err := c.HandleWebhook(ctx, &sdk.WebhookRequest{Body: body, Header: auth("Bearer " + testToken)})
				return err
			},
			WantCode: sdk.CodeUnauthenticated, WantMessage: msgNoCredentials,
		},
		{
			Name: "short bearer token",
			Call: func(ctx context.Context, c *sdktest.Client) error {
				_, err := c.ValidateCredentials(ctx, sdk.Credentials{Kind: AuthBearer, Token: "short"})
				return err
			},
			WantCode: sdk.CodeInvalid, WantMessage: msgBearerTooShort,
		},
	}
	for _, tt := range []struct {
		name, secret, header, tampered string
	}{
		{"bearer", "bearer:" + testToken, "Bearer " + testToken, "Bearer " + testToken[1:]},
		{"basic", "basic:alertmanager:s3cret", basicHeader("alertmanager", "s3cret"), basicHeader("alertmanager", "s3creT")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sdktest.Conformance(t, New(), sdktest.ConformanceOptions{
				ValidWebhook: func() *sdk.WebhookRequest {
					return &sdk.WebhookRequest{
						Body: body, Header: auth(tt.header), Secrets: []string{"bearer:previous-token-0000", tt.secret},
					}
				},
				Tamper:     func(r *sdk.WebhookRequest) { r.Header["Authorization"] = []string{tt.tampered} },
				ErrorCases: errorCases,
			})
		})
	}
}
