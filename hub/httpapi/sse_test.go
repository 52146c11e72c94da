package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aurora-hub/aurora-hub/hub/config"
	"github.com/aurora-hub/aurora-hub/hub/httpapi"
	"github.com/aurora-hub/aurora-hub/hub/live"
	"github.com/hashicorp/go-hclog"
)

// smallSendBuffers makes the server's socket buffers small, so a client
// that stops reading blocks the server's writes after a few kilobytes.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

// openStream sends GET /incidents/stream as user on a raw connection and
// returns it without reading anything.
func openStream(t *testing.T, addr, user string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /incidents/stream HTTP/1.1\r\nHost: hub\r\nX-User-ID: %s\r\n\r\n", user)
	return c
}

// streamStatus opens a stream as user with net/http and returns its status
// and, for a refusal, its error message; an accepted stream is closed.
func streamStatus(t *testing.T, addr, user string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/incidents/stream", nil)
	req.Header.Set("X-User-ID", user)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.NewDecoder(res.Body).Decode(&e)
		return res.StatusCode, e.Error
	}
	line, _ := bufio.NewReader(res.Body).ReadString('\n')
	if !strings.HasPrefix(line, "retry:") {
		t.Fatalf("stream began with %q", line)
	}
	return res.StatusCode, ""
}

// TestStreamLimits: a tenant gets HUB_SSE_MAX_STREAMS_PER_TENANT streams,
// more answer 429 (other tenants are not affected), and a client that stops
// reading loses its stream after HUB_SSE_WRITE_TIMEOUT, which frees its slot.
func TestStreamLimits(t *testing.T) {
	broker := live.New(nil, false, hclog.NewNullLogger())
	defer broker.Close()
	srv := httpapi.New(httpapi.Deps{
		Config: &config.Config{SSE: config.SSE{MaxPerTenant: 2, WriteTimeout: time.Second}},
		Logger: hclog.NewNullLogger(), Live: broker,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.App().Listener(smallSendBuffers{ln})
	defer srv.App().ShutdownWithTimeout(time.Second)
	addr := ln.Addr().String()

	// Two streams that never read: the tenant's two slots.
	openStream(t, addr, "u1")
	openStream(t, addr, "u1")
	var code int
	var msg string
	deadline := time.Now().Add(5 * time.Second)
	for code != http.StatusTooManyRequests && time.Now().Before(deadline) {
		code, msg = streamStatus(t, addr, "u1")
	}
	if code != http.StatusTooManyRequests || msg == "" {
		t.Fatalf("a third stream = %d %q, want 429 with an error message", code, msg)
	}
	if code, _ := streamStatus(t, addr, "u2"); code != http.StatusOK {
		t.Fatalf("another tenant's stream = %d, want 200", code)
	}

	// Events of 16 KB the stalled clients never read: the server's writes
	// block within a few of them and stay blocked but for the deadline (the
	// broker drops a subscriber that falls behind, but its writer is stuck
	// in the write all the same).
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			broker.Publish(context.Background(), "user", "u1", live.Event{Type: live.IncidentUpdate, IncidentID: fmt.Sprintf("%016384d", i), Source: "pagerduty"})
		}
	}()
	// After the write timeout the stalled streams are dropped and the
	// tenant can open a stream again.
	start := time.Now()
	deadline = start.Add(15 * time.Second)
	for {
		code, _ := streamStatus(t, addr, "u1")
		if code == http.StatusOK {
			t.Logf("slots free again after %s", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stalled streams still hold the tenant's slots (%d)", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
