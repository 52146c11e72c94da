package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

// bombSize is how much a bomb inflates to: 500 MB of zeros, about 500 KB on
// the wire, under the hub's 1 MB limit on what it reads from the network.
const bombSize = 500 << 20

var bombs sync.Map // encoding -> []byte

// bomb returns bombSize zeros compressed with encoding (gzip or deflate,
// which is zlib in HTTP), built once per test binary.
func bomb(t *testing.T, encoding string) []byte {
	t.Helper()
	if b, ok := bombs.Load(encoding); ok {
		return b.([]byte)
	}
	var buf bytes.Buffer
	w := compressor(t, encoding, &buf)
	zeros := make([]byte, 1<<20)
	for i := 0; i < bombSize/len(zeros); i++ {
		if _, err := w.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	bombs.Store(encoding, buf.Bytes())
	return buf.Bytes()
}

func compressor(t *testing.T, encoding string, w io.Writer) io.WriteCloser {
	t.Helper()
	switch encoding {
	case "gzip":
		zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
		return zw
	case "deflate":
		zw, _ := zlib.NewWriterLevel(w, zlib.BestCompression)
		return zw
	}
	t.Fatalf("no compressor for %q", encoding)
	return nil
}

func compress(t *testing.T, encoding string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := compressor(t, encoding, &buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// peakRSS is the process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// TestCompressedBodyBombs posts 500 MB of compressed zeros to the public
// webhook route and to management routes: each answers a 4xx in the hub's
// error shape without inflating more than a route's limit, so the hub's peak
// memory barely moves. A small compressed webhook is still accepted.
func TestCompressedBodyBombs(t *testing.T) {
	sim := startSim(t)
	seedAccount(sim)
	h := startHub(t, sim, hubOpts{backend: "sqlite"})
	connectWithSecret(t, h, whSecret)
	for _, enc := range []string{"gzip", "deflate"} {
		bomb(t, enc) // built before the baseline is taken
	}
	pid := h.Pid()
	before := peakRSS(t, pid)

	routes := []struct {
		name, method, path string
		management         bool
	}{
		{"webhook", "POST", "/pagerduty/webhook/" + alice.user, false},
		{"webhook of an unknown user", "POST", "/pagerduty/webhook/nobody", false},
		{"settings", "PUT", "/settings", true},
		{"connect", "POST", "/pagerduty", true},
		{"webhook secret", "PUT", "/pagerduty/webhook-secret", true},
	}
	for _, enc := range []string{"gzip", "deflate"} {
		for _, r := range routes {
			t.Run(enc+" to "+r.name, func(t *testing.T) {
				req, err := http.NewRequestWithContext(ctxT(t), r.method, h.URL+r.path, bytes.NewReader(bomb(t, enc)))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Content-Encoding", enc)
				if r.management {
					req.Header.Set("X-Internal-Secret", internalSecret)
					req.Header.Set("X-User-ID", alice.user)
				}
				start := time.Now()
				res := doRequest(t, req)
				took := time.Since(start)
				if res.Status < 400 || res.Status > 499 {
					t.Fatalf("= %d %s, want a 4xx", res.Status, res.Body)
				}
				if msg, _ := res.JSON["error"].(string); msg == "" {
					t.Fatalf("= %d %s, want the hub's {\"error\": ...} shape", res.Status, res.Body)
				}
				// Generous: refusing is a few milliseconds of work, inflating
				// 500 MB is seconds.
				if took > 5*time.Second {
					t.Errorf("answered after %s", took)
				}
				t.Logf("%d %s in %s", res.Status, res.Body, took)
			})
		}
	}
	after := peakRSS(t, pid)
	t.Logf("hub peak RSS %d MB before the bombs, %d MB after", before>>20, after>>20)
	if grew := after - before; grew > 100<<20 {
		t.Errorf("hub peak RSS grew by %d MB (from %d MB to %d MB)", grew>>20, before>>20, after>>20)
	}

	// A sender that compresses an honest webhook is still heard; the
	// signature is over the body as sent before compression.
	for i, enc := range []string{"gzip", "deflate"} {
		body := incidentBody("incident.triggered", fmt.Sprintf("PINCGZ%d", i), time.Now().Add(-time.Minute), nil)
		req, err := pdsim.NewWebhookRequest(ctxT(t), h.URL+"/pagerduty/webhook/"+alice.user, compress(t, enc, body), whSecret)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(pdsim.HeaderSignature, pdsim.SignatureHeader(body, whSecret))
		req.Header.Set("Content-Encoding", enc)
		if res := doRequest(t, req); res.Status != 202 {
			t.Fatalf("%s webhook = %d %s", enc, res.Status, res.Body)
		}
	}
	// An encoding the hub does not decode is refused, not passed on.
	req, _ := pdsim.NewWebhookRequest(ctxT(t), h.URL+"/pagerduty/webhook/"+alice.user, []byte("{}"), whSecret)
	req.Header.Set("Content-Encoding", "br")
	if res := doRequest(t, req); res.Status != 415 || res.JSON["error"] == nil {
		t.Fatalf("br webhook = %d %s", res.Status, res.Body)
	}
}
