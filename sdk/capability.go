package sdk

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	pb "github.com/aurora-hub/aurora-hub/sdk/proto/providerv1"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
)

// Capability names, as listed in Manifest.Capabilities.
const (
	CapabilityAuth         = "auth"
	CapabilityWebhooks     = "webhooks"
	CapabilityOAuth        = "oauth"
	CapabilityProvisioning = "provisioning"
	CapabilityEnrichment   = "enrichment"
	// CapabilityWebhookSecrets: the plugin checks webhook secrets when they
	// are stored (protocol 1.2).
	CapabilityWebhookSecrets = "webhook_secrets"
)

// capability is one row of the capability table: its manifest name, the
// interface a provider implements to offer it, and how Serve registers it.
// This table is the only list of capabilities: ManifestOf, Serve, Check,
// Local, the host client (sdk/host) and sdktest all read it.
type capability struct {
	name     string
	iface    reflect.Type
	register func(s *grpc.Server, p Provider, log hclog.Logger)
}

var capabilityTable = []capability{
	{CapabilityAuth, typeOf[CredentialValidator](), func(s *grpc.Server, p Provider, log hclog.Logger) {
		pb.RegisterAuthServer(s, &authServer{v: p.(CredentialValidator)})
	}},
	{CapabilityWebhooks, typeOf[WebhookHandler](), func(s *grpc.Server, p Provider, log hclog.Logger) {
		pb.RegisterWebhooksServer(s, &webhooksServer{w: p.(WebhookHandler), log: log})
	}},
	{CapabilityWebhookSecrets, typeOf[WebhookSecretValidator](), func(s *grpc.Server, p Provider, _ hclog.Logger) {
		pb.RegisterWebhookSecretsServer(s, &webhookSecretsServer{v: p.(WebhookSecretValidator)})
	}},
	{CapabilityOAuth, typeOf[OAuthProvider](), func(s *grpc.Server, p Provider, log hclog.Logger) {
		pb.RegisterOAuthServer(s, &oauthServer{o: p.(OAuthProvider)})
	}},
	{CapabilityProvisioning, typeOf[Provisioner](), func(s *grpc.Server, p Provider, log hclog.Logger) {
		pb.RegisterProvisioningServer(s, &provisioningServer{p: p.(Provisioner)})
	}},
	{CapabilityEnrichment, typeOf[Enricher](), func(s *grpc.Server, p Provider, log hclog.Logger) {
		pb.RegisterEnrichmentServer(s, &enrichmentServer{e: p.(Enricher)})
	}},
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// AllCapabilities lists every capability name in manifest order.
func AllCapabilities() []string {
	out := make([]string, len(capabilityTable))
	for i, c := range capabilityTable {
		out[i] = c.name
	}
	return out
}

// CapabilityType is the interface a provider implements to offer
// capability name, or nil for an unknown name.
func CapabilityType(name string) reflect.Type {
	for _, c := range capabilityTable {
		if c.name == name {
			return c.iface
		}
	}
	return nil
}

// CapabilityInterface names the interface a provider implements to offer
// capability name (e.g. "sdk.WebhookHandler"), or "" for an unknown name.
func CapabilityInterface(name string) string {
	for _, c := range capabilityTable {
		if c.name == name {
			return c.iface.String()
		}
	}
	return ""
}

// Implemented lists the capabilities p implements, in manifest order.
func Implemented(p Provider) []string {
	var out []string
	t := reflect.TypeOf(p)
	for _, c := range capabilityTable {
		if t != nil && t.Implements(c.iface) {
			out = append(out, c.name)
		}
	}
	return out
}

// Check reports what makes p unfit to serve, so a mistake fails loudly at
// Serve (and in sdktest) instead of silently dropping a capability:
//   - Manifest().Capabilities lists a capability p does not implement, or an
//     unknown one (leave the list empty; Serve fills it in);
//   - p has a method named like a capability's method (in any case) whose
//     signature differs, e.g. HandleWebhook taking the wrong arguments or
//     ValidateCredential spelled Validatecredentials.
func Check(p Provider) error {
	if p == nil {
		return fmt.Errorf("sdk: nil provider")
	}
	var problems []string
	impl := Implemented(p)
	for _, c := range p.Manifest().Capabilities {
		switch {
		case CapabilityInterface(c) == "":
			problems = append(problems, fmt.Sprintf("the manifest declares unknown capability %q (known: %s)", c, strings.Join(AllCapabilities(), ", ")))
		case !slices.Contains(impl, c):
			problems = append(problems, fmt.Sprintf("the manifest declares capability %q but the provider does not implement %s%s",
				c, CapabilityInterface(c), missing(p, c)))
		}
	}
	t := reflect.TypeOf(p)
	for _, c := range capabilityTable {
		if t.Implements(c.iface) {
			continue
		}
		var have, lack []string
		for i := range c.iface.NumMethod() {
			want := c.iface.Method(i)
			found := false
			for j := range t.NumMethod() {
				got := t.Method(j)
				if !strings.EqualFold(got.Name, want.Name) {
					continue
				}
				found = true
				if got.Name != want.Name || !sameSignature(got.Type, want.Type) {
					problems = append(problems, fmt.Sprintf("method %s%s looks like %s.%s%s but does not match it, so the provider lacks capability %q",
						got.Name, strings.TrimPrefix(dropReceiver(got.Type), "func"), c.iface, want.Name, strings.TrimPrefix(want.Type.String(), "func"), c.name))
				}
			}
			if found {
				have = append(have, want.Name)
			} else {
				lack = append(lack, want.Name)
			}
		}
		if len(have) > 0 && len(lack) > 0 {
			problems = append(problems, fmt.Sprintf("the provider has %s but lacks %s, so it does not implement %s (capability %q)",
				strings.Join(have, ", "), strings.Join(lack, ", "), c.iface, c.name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("sdk: provider %T: %s", p, strings.Join(problems, "; "))
	}
	return nil
}

// missing names the methods of capability name that p lacks.
func missing(p Provider, name string) string {
	t := reflect.TypeOf(p)
	for _, c := range capabilityTable {
		if c.name != name {
			continue
		}
		var out []string
		for i := range c.iface.NumMethod() {
			if _, ok := t.MethodByName(c.iface.Method(i).Name); !ok {
				out = append(out, c.iface.Method(i).Name)
			}
		}
		if len(out) > 0 {
			return " (missing " + strings.Join(out, ", ") + ")"
		}
	}
	return ""
}

// sameSignature compares a method's type (receiver first) with an
// interface method's type (no receiver).
func sameSignature(method, iface reflect.Type) bool {
	if method.NumIn() != iface.NumIn()+1 || method.NumOut() != iface.NumOut() || method.IsVariadic() != iface.IsVariadic() {
		return false
	}
	for i := range iface.NumIn() {
		if method.In(i+1) != iface.In(i) {
			return false
		}
	}
	for i := range iface.NumOut() {
		if method.Out(i) != iface.Out(i) {
			return false
		}
	}
	return true
}

// dropReceiver prints a method's type without its receiver.
func dropReceiver(method reflect.Type) string {
	in := make([]reflect.Type, 0, method.NumIn())
	for i := 1; i < method.NumIn(); i++ {
		in = append(in, method.In(i))
	}
	out := make([]reflect.Type, method.NumOut())
	for i := range out {
		out[i] = method.Out(i)
	}
	return reflect.FuncOf(in, out, method.IsVariadic()).String()
}
