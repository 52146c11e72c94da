package webhook

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Text cleans text from a delivery for display: invalid UTF-8 and control
// characters (but newlines and tabs) are dropped, space is trimmed, and the
// result is cut to at most max bytes on a rune boundary (max <= 0: no cut).
func Text(s string, max int) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if max > 0 {
		s = truncate(s, max)
	}
	return s
}

// First returns the first of vals that is not blank, trimmed.
func First(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// Link returns the first of urls that is an absolute http(s) URL, so a
// javascript: or relative link from a delivery never reaches a page.
func Link(urls ...string) string {
	for _, raw := range urls {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			return u.String()
		}
	}
	return ""
}
