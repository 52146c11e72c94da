package hub

import (
	"net/url"
	"strings"
)

// SafeURL returns raw when it is an absolute http or https URL with a host, else "".
// Only such links leave the hub: a javascript: or data: URL from webhook data stays data.
func SafeURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}
