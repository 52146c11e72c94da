package pagerduty

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/webhook"
)

// Subscription scope types (sdk.SubscriptionRequest.ScopeType).
const (
	ScopeAccount = "account"
	ScopeService = "service"
	ScopeTeam    = "team"
)

const defaultSubscriptionDescription = "Aurora Hub"

var (
	subscriptionMapping = mapping{badRequest: "PagerDuty rejected the webhook subscription", withDetail: true}
	pingMapping         = mapping{badRequest: "PagerDuty rejected the webhook ping", withDetail: true, notFound: "Webhook subscription not found"}
	deleteMapping       = mapping{badRequest: "PagerDuty rejected the webhook subscription deletion", withDetail: true}
)

// CreateWebhookSubscription implements sdk.Provisioner: POST
// /webhook_subscriptions with an HTTP delivery method. The signing secret is
// returned only here (PagerDuty shows it once).
func (p *Provider) CreateWebhookSubscription(ctx context.Context, req *sdk.SubscriptionRequest) (*sdk.Subscription, error) {
	if req == nil {
		return nil, sdk.Errorf(sdk.CodeInvalid, "Subscription request required")
	}
	if strings.TrimSpace(req.Credentials.Token) == "" {
		return nil, &sdk.Error{Code: sdk.CodeInvalid, Message: msgTokenRequired}
	}
	target := strings.TrimSpace(req.URL)
	if u, err := url.Parse(target); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, sdk.Errorf(sdk.CodeInvalid, "Webhook URL must be an absolute http(s) URL")
	}
	filter, err := subscriptionFilter(req.ScopeType, req.ScopeID)
	if err != nil {
		return nil, err
	}
	events := cleanEvents(req.Events)
	if len(events) == 0 {
		events = append([]string(nil), DefaultSubscriptionEvents...)
	}
	desc := strings.TrimSpace(req.Description)
	if desc == "" {
		desc = defaultSubscriptionDescription
	}
	body := map[string]any{"webhook_subscription": map[string]any{
		"type":            "webhook_subscription",
		"delivery_method": map[string]any{"type": "http_delivery_method", "url": target},
		"events":          events,
		"filter":          filter,
		"description":     desc,
	}}
	var out struct {
		Sub struct {
			ID             webhook.String `json:"id"`
			Events         webhook.Array  `json:"events"`
			DeliveryMethod struct {
				URL    webhook.String `json:"url"`
				Secret webhook.String `json:"secret"`
			} `json:"delivery_method"`
		} `json:"webhook_subscription"`
	}
	c := p.client(req.Credentials)
	if err := c.do(ctx, http.MethodPost, "/webhook_subscriptions", nil, body, &out); err != nil {
		return nil, toSDKError(ctx, err, subscriptionMapping)
	}
	if out.Sub.ID == "" {
		return nil, &sdk.Error{Code: sdk.CodeUpstream, Message: msgUpstream,
			Err: &transportError{Method: http.MethodPost, Path: "/webhook_subscriptions", Err: constError("answer has no webhook_subscription.id")}}
	}
	sub := &sdk.Subscription{
		ID: string(out.Sub.ID), Secret: string(out.Sub.DeliveryMethod.Secret),
		URL: string(out.Sub.DeliveryMethod.URL), Events: events,
	}
	if got := stringsOf(out.Sub.Events); len(got) > 0 {
		sub.Events = got
	}
	if sub.URL == "" {
		sub.URL = target
	}
	if sub.Secret == "" {
		p.log.Warn("webhook subscription created without a signing secret in the answer", "subscription_id", sub.ID)
	}
	p.log.Info("webhook subscription created", "subscription_id", sub.ID, "scope", filter["type"], "events", len(sub.Events))
	return sub, nil
}

// DeleteWebhookSubscription implements sdk.Provisioner. A subscription that
// is already gone (404) is not an error.
func (p *Provider) DeleteWebhookSubscription(ctx context.Context, creds sdk.Credentials, id string) error {
	id = strings.TrimSpace(id)
	if id == "" {
		return sdk.Errorf(sdk.CodeInvalid, "Webhook subscription id required")
	}
	err := p.client(creds).do(ctx, http.MethodDelete, "/webhook_subscriptions/"+url.PathEscape(id), nil, nil, nil)
	if statusOf(err) == http.StatusNotFound {
		p.log.Info("webhook subscription already gone", "subscription_id", id)
		return nil
	}
	if err != nil {
		return toSDKError(ctx, err, deleteMapping)
	}
	p.log.Info("webhook subscription deleted", "subscription_id", id)
	return nil
}

// PingWebhookSubscription implements sdk.Provisioner: PagerDuty sends a
// pagey.ping event to the subscription's URL.
func (p *Provider) PingWebhookSubscription(ctx context.Context, creds sdk.Credentials, id string) error {
	id = strings.TrimSpace(id)
	if id == "" {
		return sdk.Errorf(sdk.CodeInvalid, "Webhook subscription id required")
	}
	err := p.client(creds).do(ctx, http.MethodPost, "/webhook_subscriptions/"+url.PathEscape(id)+"/ping", nil, nil, nil)
	return toSDKError(ctx, err, pingMapping)
}

// subscriptionFilter maps the SDK's scope to PagerDuty's filter object.
func subscriptionFilter(scopeType, scopeID string) (map[string]any, error) {
	scopeID = strings.TrimSpace(scopeID)
	switch strings.ToLower(strings.TrimSpace(scopeType)) {
	case "", ScopeAccount, "account_reference":
		return map[string]any{"type": "account_reference"}, nil
	case ScopeService, "service_reference":
		if scopeID == "" {
			return nil, sdk.Errorf(sdk.CodeInvalid, "A service scope needs the service id")
		}
		return map[string]any{"type": "service_reference", "id": scopeID}, nil
	case ScopeTeam, "team_reference":
		if scopeID == "" {
			return nil, sdk.Errorf(sdk.CodeInvalid, "A team scope needs the team id")
		}
		return map[string]any{"type": "team_reference", "id": scopeID}, nil
	}
	return nil, sdk.Errorf(sdk.CodeInvalid, "Unknown subscription scope %q: use account, service or team", scopeType)
}

// cleanEvents trims, drops empties and duplicates (PagerDuty wants unique items).
func cleanEvents(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range in {
		e = strings.TrimSpace(e)
		if e != "" && !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

func stringsOf(items webhook.Array) []string {
	var out []string
	for _, it := range items {
		var s webhook.String
		_ = json.Unmarshal(it, &s)
		if s != "" {
			out = append(out, string(s))
		}
	}
	return out
}
