package host_test

import (
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
