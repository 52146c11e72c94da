package httpapi

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/connections"
	"github.com/aurora-hub/aurora-hub/hub/store"
	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/gofiber/fiber/v2"
)

// connectionJSON is the contract's connection status object.
type connectionJSON struct {
	Success           bool            `json:"success,omitempty"`
	Connected         bool            `json:"connected"`
	DisplayName       string          `json:"displayName"`
	AuthType          string          `json:"authType"`
	ExternalUserEmail *string         `json:"externalUserEmail"`
	ExternalUserName  *string         `json:"externalUserName"`
	AccountSubdomain  string          `json:"accountSubdomain"`
	Capabilities      map[string]bool `json:"capabilities"`
	ValidatedAt       string          `json:"validatedAt"`
	Webhook           map[string]any  `json:"webhook,omitempty"`
}

func toJSON(c *hub.Connection) connectionJSON {
	caps := c.Capabilities
	if caps == nil {
		caps = map[string]bool{}
	}
	return connectionJSON{
		Connected: true, DisplayName: c.DisplayName, AuthType: c.AuthType,
		ExternalUserEmail: c.ExternalUserEmail, ExternalUserName: c.ExternalUserName,
		AccountSubdomain: c.AccountSubdomain, Capabilities: caps,
		ValidatedAt: c.ValidatedAt.UTC().Format(time.RFC3339),
	}
}

func (s *Server) getConnection(c *fiber.Ctx) error {
	conn, err := s.conns.Get(c.UserContext(), plugin(c).Name, owner(c))
	if err != nil {
		return err
	}
	if conn == nil {
		return c.JSON(fiber.Map{"connected": false})
	}
	if conn.Status == hub.StatusExpired {
		return c.JSON(fiber.Map{"connected": false, "error": conn.StatusError})
	}
	w, err := s.webhookStatus(c, conn)
	if err != nil {
		return err
	}
	out := toJSON(conn)
	out.Webhook = w
	return c.JSON(out)
}

// tokenBody decodes {"token": "...", "displayName": "..."}; a token that is
// missing or not a string is "Token required".
func tokenBody(c *fiber.Ctx) (token, displayName string, err error) {
	raw, err := readBody(c, maxBodyBytes, identityOnly)
	if err != nil {
		return "", "", err
	}
	var body struct {
		Token       any `json:"token"`
		DisplayName any `json:"displayName"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &body) != nil {
		return "", "", hub.Errorf(hub.EInvalid, "Token required")
	}
	t, ok := body.Token.(string)
	if !ok {
		return "", "", hub.Errorf(hub.EInvalid, "Token required")
	}
	dn, _ := body.DisplayName.(string)
	return t, dn, nil
}

func (s *Server) validator(c *fiber.Ctx) (connections.Validator, error) {
	p := plugin(c)
	if !p.Manifest.Has(sdk.CapabilityAuth) {
		return nil, hub.Errorf(hub.ENotFound, "Provider %s does not accept tokens", p.Name)
	}
	return p.Client, nil
}

func (s *Server) connect(c *fiber.Ctx) error {
	if p := plugin(c); p.Manifest.ConnectWithoutCredentials && !p.Manifest.Has(sdk.CapabilityAuth) {
		return s.connectWithoutCredentials(c)
	}
	token, displayName, err := tokenBody(c)
	if err != nil {
		return err
	}
	v, err := s.validator(c)
	if err != nil {
		return err
	}
	p, o := plugin(c), owner(c)
	if displayName == "" {
		displayName = p.Manifest.DisplayName
	}
	conn, err := s.conns.ConnectToken(c.UserContext(), v, p.Name, o, token, displayName)
	if err != nil {
		return err
	}
	return s.connected(c, o, conn)
}

// connected answers a new connection made with or without credentials:
// the connection, with success.
func (s *Server) connected(c *fiber.Ctx, o hub.Owner, conn *hub.Connection) error {
	if err := s.learnConnection(c.UserContext(), o); err != nil {
		return err
	}
	out := toJSON(conn)
	out.Success = true
	return c.JSON(out)
}

func (s *Server) rotate(c *fiber.Ctx) error {
	token, _, err := tokenBody(c)
	if err != nil {
		return err
	}
	v, err := s.validator(c)
	if err != nil {
		return err
	}
	conn, err := s.conns.RotateToken(c.UserContext(), v, plugin(c).Name, owner(c), token)
	if err != nil {
		return err
	}
	out := toJSON(conn)
	out.Success = true
	return c.JSON(out)
}

func (s *Server) disconnect(c *fiber.Ctx) error {
	if err := s.conns.Disconnect(c.UserContext(), plugin(c).Name, owner(c)); err != nil {
		return err
	}
	s.webhooks.Invalidate()
	return c.JSON(fiber.Map{"success": true})
}

func (s *Server) webhookURL(c *fiber.Ctx) error {
	p, o := plugin(c), owner(c)
	if err := s.webhooks.RememberMembership(c.UserContext(), o.UserID, o.OrgID); err != nil {
		return err
	}
	url := s.cfg.WebhookBaseURL() + "/" + p.Name + "/webhook/" + o.UserID
	out := fiber.Map{"webhookUrl": url, "instructions": webhookInstructions(p.Manifest, url)}
	// The alternative for an unguessable URL that reaches the caller's
	// connection alone (once there is one).
	conn, err := s.store.Connection(c.UserContext(), p.Name, o.Kind(), o.ID())
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		key, err := s.webhooks.URLKey(c.UserContext(), conn)
		if err != nil {
			return err
		}
		out["webhookUrlWithKey"] = url + "/" + key
	}
	return c.JSON(out)
}

// connectWithoutCredentials connects a webhook-only provider: the body, if
// any, may name the connection ({"displayName": "..."}); no token is asked.
func (s *Server) connectWithoutCredentials(c *fiber.Ctx) error {
	raw, err := readBody(c, maxBodyBytes, identityOnly)
	if err != nil {
		return err
	}
	var body struct {
		DisplayName any `json:"displayName"`
	}
	_ = json.Unmarshal(raw, &body) // an empty or odd body names nothing
	p, o := plugin(c), owner(c)
	displayName, _ := body.DisplayName.(string)
	if displayName == "" {
		displayName = p.Manifest.DisplayName
	}
	conn, err := s.conns.ConnectWithoutCredentials(c.UserContext(), p.Name, o, displayName)
	if err != nil {
		return err
	}
	return s.connected(c, o, conn)
}

// webhookInstructions are the plugin's own setup steps (its manifest's
// SetupInstructions, "{webhook_url}" filled in), or a generic line for a
// plugin that has none.
func webhookInstructions(m sdk.Manifest, url string) []string {
	if len(m.SetupInstructions) > 0 {
		out := make([]string, len(m.SetupInstructions))
		for i, step := range m.SetupInstructions {
			out[i] = strings.ReplaceAll(step, "{webhook_url}", url)
		}
		return out
	}
	return []string{"Configure " + m.DisplayName + " to send webhooks to " + url}
}
