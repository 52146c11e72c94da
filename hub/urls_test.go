package hub

import "testing"

func TestSafeURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://acme.pagerduty.com/incidents/P1", "https://acme.pagerduty.com/incidents/P1"},
		{"http://prometheus:9090/graph?g0.expr=up%3D%3D0", "http://prometheus:9090/graph?g0.expr=up%3D%3D0"},
		{"  https://example.com/x\n", "https://example.com/x"},
		{"HTTPS://example.com/", "https://example.com/"},
		{"javascript:alert(document.cookie)", ""},
		{"JAVASCRIPT:alert(1)", ""},
		{"  javascript:alert(1)", ""},
		{"\tjavascript:alert(1)", ""},
		{"java\tscript:alert(1)", ""},
		{"data:text/html,<script>alert(1)</script>", ""},
		{"vbscript:msgbox(1)", ""},
		{"file:///etc/passwd", ""},
		{"//evil.example/x", ""},
		{"/incidents/P1", ""},
		{"incidents/P1", ""},
		{"https:///no-host", ""},
		{"https://", ""},
		{"http://[::1", ""},
		{"", ""},
	} {
		if got := SafeURL(tc.in); got != tc.want {
			t.Errorf("SafeURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
