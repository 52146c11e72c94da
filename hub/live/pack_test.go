package live

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestPackKeepsOrderUnderTheLimit: updates leave in as few notifications
// as hold them, each under PostgreSQL's payload limit, and come out of
// unpack as they went in, in order; a single update, as replicas before
// packing sent one, is still read.
func TestPackKeepsOrderUnderTheLimit(t *testing.T) {
	update := func(i, titleBytes int) Update {
		return Update{OwnerKind: "org", OwnerID: "a", Event: Event{Type: AlertCorrelated, IncidentID: fmt.Sprintf("inc-%04d", i),
			AlertTitle: strings.Repeat("x", titleBytes)}}
	}
	tests := []struct {
		name          string
		n, titleBytes int
		notifications int
	}{
		{"none", 0, 10, 0},
		{"one", 1, 10, 1},
		{"a transaction's in one", 40, 60, 1},
		{"a storm chunk's in a few", 256, 100, 7}, // 193 bytes each, 41 a notification
		{"each nearly the limit alone", 3, maxPayload - 200, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in []Update
			var encoded [][]byte
			for i := range tt.n {
				u := update(i, tt.titleBytes)
				b, err := json.Marshal(u)
				if err != nil {
					t.Fatal(err)
				}
				in, encoded = append(in, u), append(encoded, b)
			}
			payloads := pack(encoded)
			if len(payloads) != tt.notifications {
				t.Errorf("%d updates in %d notifications, want %d", tt.n, len(payloads), tt.notifications)
			}
			var out []Update
			for _, p := range payloads {
				if len(p) >= maxPayload {
					t.Errorf("a notification of %d bytes, PostgreSQL takes under %d", len(p), maxPayload)
				}
				us, err := unpack(p)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, us...)
			}
			if !reflect.DeepEqual(out, in) {
				t.Errorf("unpacked %d updates, not the %d packed in their order", len(out), len(in))
			}
		})
	}
	t.Run("one update alone, as before packing", func(t *testing.T) {
		b, err := json.Marshal(update(7, 10))
		if err != nil {
			t.Fatal(err)
		}
		us, err := unpack(string(b))
		if err != nil || len(us) != 1 || us[0].Event.IncidentID != "inc-0007" {
			t.Errorf("unpack(%s) = %v, %v", b, us, err)
		}
	})
	if _, err := unpack("[{"); err == nil {
		t.Error("a truncated array unpacked without an error")
	}
}
