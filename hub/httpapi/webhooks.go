package httpapi

import (
	"encoding/json"
	"net/textproto"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/webhooks"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/gofiber/fiber/v2"
)

// receiveWebhook is POST /:provider/webhook/:user_id (and, with the
// connection's URL key, /:provider/webhook/:user_id/:key), open to the
// internet: the plugin authenticates the delivery by its signature before
// anything is stored.
func (s *Server) receiveWebhook(c *fiber.Ctx) error {
	p := plugin(c)
	if !p.Manifest.Has(sdk.CapabilityWebhooks) {
		return hub.Errorf(hub.ENotFound, "Provider %s does not receive webhooks", p.Name)
	}
	body, err := readBody(c, webhooks.MaxBodyBytes, gzipOrDeflate)
	if err != nil {
		s.webhooks.RejectUnread(p.Name, c.Params("user_id"), err)
		return err
	}
	header := make(map[string][]string, c.Request().Header.Len())
	c.Request().Header.VisitAll(func(k, v []byte) {
		// Protobuf strings must be valid UTF-8: one stray byte in a header
		// would make the call to the plugin fail. Signatures are ASCII.
		name := textproto.CanonicalMIMEHeaderKey(strings.ToValidUTF8(string(k), "\uFFFD"))
		header[name] = append(header[name], strings.ToValidUTF8(string(v), "\uFFFD"))
	})
	// The plugin gets the body decoded: nothing is left for it to decode.
	delete(header, fiber.HeaderContentEncoding)
	var r *webhooks.Receipt
	if key := c.Params("key"); key != "" {
		r, err = s.webhooks.ReceiveKeyed(c.UserContext(), p.Client, p.Name, p.Manifest.DisplayName, c.Params("user_id"), key, body, header)
	} else {
		r, err = s.webhooks.Receive(c.UserContext(), p.Client, p.Name, p.Manifest.DisplayName, c.Params("user_id"), body, header)
	}
	if err != nil {
		return err
	}
	c.Locals(receiptKey{}, r) // for the delivery's metrics
	c.Status(fiber.StatusAccepted)
	if r.Reason == "" && r.Verified {
		// Nearly every delivery: the body as the encoder writes it.
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(receivedBody)
	}
	out := fiber.Map{"received": true}
	if r.Reason != "" {
		out["reason"] = r.Reason
	}
	if !r.Verified {
		out["verified"] = false
	}
	return c.JSON(out)
}

// receivedBody is the 202's body for a verified delivery stored or
// already stored.
var receivedBody = []byte(`{"received":true}`)

// connection returns the caller's connection to the plugin's provider.
func (s *Server) connection(c *fiber.Ctx) (*hub.Connection, error) {
	conn, err := s.conns.Get(c.UserContext(), plugin(c).Name, owner(c))
	if err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, hub.Errorf(hub.ENotFound, "Not connected")
	}
	return conn, nil
}

func (s *Server) putWebhookSecret(c *fiber.Ctx) error {
	conn, err := s.connection(c)
	if err != nil {
		return err
	}
	raw, err := readBody(c, maxBodyBytes, identityOnly)
	if err != nil {
		return err
	}
	var body struct {
		Secret any `json:"secret"`
	}
	if json.Unmarshal(raw, &body) != nil {
		return hub.Errorf(hub.EInvalid, "Secret required")
	}
	secret, _ := body.Secret.(string)
	if p := plugin(c); strings.TrimSpace(secret) != "" && p.Manifest.Has(sdk.CapabilityWebhookSecrets) {
		// The plugin knows its secrets' format: refuse a typo now rather
		// than reject every delivery later.
		if err := p.Client.ValidateWebhookSecret(c.UserContext(), secret); err != nil {
			return err
		}
	}
	if err := s.webhooks.PutSecret(c.UserContext(), conn, secret, webhooks.SourceManual); err != nil {
		return err
	}
	n, err := s.webhooks.SecretCount(c.UserContext(), conn)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"success": true, "activeSecrets": n})
}

func (s *Server) deleteWebhookSecret(c *fiber.Ctx) error {
	conn, err := s.connection(c)
	if err != nil {
		return err
	}
	if err := s.webhooks.DeleteSecrets(c.UserContext(), conn, ""); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"success": true})
}

type subscriptionJSON struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	ScopeType string    `json:"scopeType"`
	ScopeID   string    `json:"scopeId,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// provisioner is the plugin that creates webhook subscriptions and the
// caller's connection to it (404 when either is missing).
func (s *Server) provisioner(c *fiber.Ctx) (sdk.Provisioner, *hub.Connection, error) {
	p := plugin(c)
	if !p.Manifest.Has(sdk.CapabilityProvisioning) {
		return nil, nil, hub.Errorf(hub.ENotFound, "Provider %s cannot create webhook subscriptions", p.Name)
	}
	conn, err := s.connection(c)
	if err != nil {
		return nil, nil, err
	}
	return p.Client, conn, nil
}

// createWebhookSubscription creates the subscription in the provider, stores
// its signing secret, and pings it to prove the loop.
func (s *Server) createWebhookSubscription(c *fiber.Ctx) error {
	prov, conn, err := s.provisioner(c)
	if err != nil {
		return err
	}
	var body struct {
		Events []string `json:"events"`
		Scope  struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"scope"`
	}
	raw, err := readBody(c, maxBodyBytes, identityOnly)
	if err != nil {
		return err
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			return hub.Errorf(hub.EInvalid, "Invalid JSON body")
		}
	}
	switch body.Scope.Type {
	case "":
		body.Scope.Type = "account"
	case "account":
	case "service", "team":
		if body.Scope.ID == "" {
			return hub.Errorf(hub.EInvalid, "scope.id is required for a %s scope", body.Scope.Type)
		}
	default:
		return hub.Errorf(hub.EInvalid, "scope.type must be account, service or team")
	}
	ctx := c.UserContext()
	state, err := s.store.WebhookState(ctx, conn.ID)
	if err != nil {
		return err
	}
	if state.SubscriptionID != "" {
		return hub.Errorf(hub.EConflict, "A webhook subscription already exists (%s): delete it first", state.SubscriptionID)
	}
	creds, err := s.conns.Credentials(ctx, conn)
	if err != nil {
		return err
	}
	o := owner(c)
	if err := s.webhooks.RememberMembership(ctx, o.UserID, o.OrgID); err != nil {
		return err
	}
	url := s.cfg.WebhookBaseURL() + "/" + conn.Provider + "/webhook/" + o.UserID
	sub, err := prov.CreateWebhookSubscription(ctx, &sdk.SubscriptionRequest{
		Credentials: creds, URL: url, Events: body.Events, ScopeType: body.Scope.Type, ScopeID: body.Scope.ID,
		Description: "Aurora Hub",
	})
	if err != nil {
		return err
	}
	rec := subscriptionJSON{ID: sub.ID, URL: sub.URL, Events: sub.Events, ScopeType: body.Scope.Type, ScopeID: body.Scope.ID, CreatedAt: time.Now().UTC()}
	recJSON, _ := json.Marshal(rec)
	if sub.Secret != "" {
		if err := s.webhooks.PutSecret(ctx, conn, sub.Secret, webhooks.SourceSubscription); err != nil {
			return err
		}
	}
	if err := s.store.SetWebhookSubscription(ctx, conn.ID, sub.ID, string(recJSON)); err != nil {
		return err
	}
	out := fiber.Map{"success": true, "subscription": rec, "secretStored": sub.Secret != "", "pinged": true}
	if err := prov.PingWebhookSubscription(ctx, creds, sub.ID); err != nil {
		out["pinged"] = false
		out["pingError"] = hub.AsError(err).Message
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (s *Server) getWebhookSubscription(c *fiber.Ctx) error {
	conn, err := s.connection(c)
	if err != nil {
		return err
	}
	state, err := s.store.WebhookState(c.UserContext(), conn.ID)
	if err != nil {
		return err
	}
	if state.SubscriptionID == "" {
		return hub.Errorf(hub.ENotFound, "No webhook subscription")
	}
	return c.JSON(fiber.Map{"subscription": json.RawMessage(state.Subscription)})
}

func (s *Server) deleteWebhookSubscription(c *fiber.Ctx) error {
	prov, conn, err := s.provisioner(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	state, err := s.store.WebhookState(ctx, conn.ID)
	if err != nil {
		return err
	}
	if state.SubscriptionID == "" {
		return c.JSON(fiber.Map{"success": true})
	}
	creds, err := s.conns.Credentials(ctx, conn)
	if err != nil {
		return err
	}
	if err := prov.DeleteWebhookSubscription(ctx, creds, state.SubscriptionID); err != nil {
		// Already gone at the provider, or a provider that cannot delete it: forget it here.
		if code := hub.ErrorCode(err); code != hub.ENotFound && code != hub.EUnimplemented {
			return err
		}
	}
	if err := s.webhooks.DeleteSecrets(ctx, conn, webhooks.SourceSubscription); err != nil {
		return err
	}
	if err := s.store.SetWebhookSubscription(ctx, conn.ID, "", ""); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"success": true})
}

// webhookStatus is the webhook part of GET /<provider>.
func (s *Server) webhookStatus(c *fiber.Ctx, conn *hub.Connection) (fiber.Map, error) {
	ctx := c.UserContext()
	n, err := s.webhooks.SecretCount(ctx, conn)
	if err != nil {
		return nil, err
	}
	state, err := s.store.WebhookState(ctx, conn.ID)
	if err != nil {
		return nil, err
	}
	w := fiber.Map{
		"secretConfigured": n > 0, "activeSecrets": n,
		"subscriptionId": nilIfEmpty(state.SubscriptionID), "lastDeliveryAt": state.LastDeliveryAt,
		"lastError": nilIfEmpty(state.LastError), "lastErrorAt": state.LastErrorAt,
	}
	if n == 0 {
		if s.webhooks.AllowsUnsigned(conn.Provider) {
			w["warning"] = "No signing secret: webhooks are accepted unverified (" + webhooks.AllowUnsignedEnv(conn.Provider) + "=true). Set a secret with PUT /" + conn.Provider + "/webhook-secret."
		} else if plugin(c).Manifest.Has(sdk.CapabilityProvisioning) {
			w["warning"] = "No signing secret: webhooks are rejected until you set one with PUT /" + conn.Provider + "/webhook-secret or create the subscription with POST /" + conn.Provider + "/webhook-subscription."
		} else {
			w["warning"] = "No signing secret: webhooks are rejected until you set one with PUT /" + conn.Provider + "/webhook-secret."
		}
	}
	return w, nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
