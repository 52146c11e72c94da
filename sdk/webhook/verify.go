package webhook

import (
	"github.com/aurora-hub/aurora-hub/sdk"
)

// Verifier is a provider's whole authentication of deliveries: the secret
// kinds it stores, how an HMAC secret signs, and what its errors say.
// Bearer and basic secrets are checked against the Authorization header.
type Verifier struct {
	// Kinds of secret the provider stores; Kinds[0] is the kind of a
	// secret stored without a "<kind>:" prefix.
	Kinds []string
	// HMAC is how a KindHMAC secret signs deliveries (nil: no HMAC).
	HMAC *HMAC
	// MinLength is the shortest secret ValidateSecret accepts (0: any).
	MinLength int
	Policy
}

// Verify authenticates req with every usable stored secret and applies the
// unsigned policy (see Authenticate).
func (v Verifier) Verify(req *sdk.WebhookRequest) (verified bool, err error) {
	return Authenticate(req, v.Kinds, v.Policy, func(s Secret) bool {
		switch s.Kind {
		case KindBearer, KindBasic:
			return Authorization(req.Header, s)
		case KindHMAC:
			return v.HMAC != nil && v.HMAC.Verify(req.Header, req.Body, s.Value) == nil
		}
		return false
	})
}

// ValidateSecret checks a secret before it is stored: it must parse as one
// of v.Kinds and be at least v.MinLength long. It is what a provider's
// sdk.WebhookSecretValidator usually returns.
func (v Verifier) ValidateSecret(secret string) error {
	s, err := ParseSecret(secret, v.Kinds...)
	if err != nil {
		return err
	}
	if len(s.Value) < v.MinLength {
		return sdk.Errorf(sdk.CodeInvalid, "The %s secret must be at least %d characters", s.Kind, v.MinLength)
	}
	return nil
}
