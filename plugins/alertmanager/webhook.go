package alertmanager

import (
	"context"
	"encoding/json"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/webhook"
)

// HandleWebhook implements sdk.WebhookHandler for Alertmanager's webhook
// receiver (payload version 4). The Authorization header is checked against
// the connection's stored credentials before the body is read; each alert
// becomes one event.
func (*Provider) HandleWebhook(_ context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	verified, err := verifier.Verify(req)
	if err != nil {
		return nil, err
	}
	events, err := parse(req.Body)
	if err != nil {
		return nil, err
	}
	return &sdk.WebhookResult{Verified: verified, Events: events}, nil
}

// message is Alertmanager's webhook payload (notify/webhook.Message); its
// alerts are webhook.Alert objects (template.Alert).
type message struct {
	Version     webhook.String  `json:"version"`
	GroupKey    webhook.String  `json:"groupKey"`
	Status      webhook.String  `json:"status"`
	ExternalURL webhook.String  `json:"externalURL"`
	Alerts      json.RawMessage `json:"alerts"`
}

// parse turns a payload into one event per alert, in order; an alert that
// repeats an earlier one's event ID is dropped.
func parse(body []byte) ([]sdk.Event, error) {
	var m message
	if err := webhook.DecodeObject(body, &m); err != nil {
		return nil, err
	}
	switch v := m.Version.Trimmed(); v {
	case "4":
	case "":
		return nil, webhook.Invalid(`Not an Alertmanager webhook: "version" is missing`)
	default:
		return nil, webhook.Invalid(`Unsupported Alertmanager webhook version %q: this plugin reads version "4"`, v)
	}
	var alerts []json.RawMessage
	if json.Unmarshal(m.Alerts, &alerts) != nil {
		return nil, webhook.Invalid(`"alerts" must be a list of alerts`)
	}
	if len(alerts) == 0 {
		return nil, webhook.Invalid(`No alerts in "alerts"`)
	}
	return webhook.AlertGroup{
		Status: m.Status.Trimmed(), GroupKey: string(m.GroupKey), ExternalURL: m.ExternalURL.Trimmed(),
		FiringType: EventFiring, ResolvedType: EventResolved,
	}.Events(alerts)
}
