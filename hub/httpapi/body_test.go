package httpapi

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/hashicorp/go-hclog"
)

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zlibbed(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestReadBody(t *testing.T) {
	const limit = 4 << 10
	srv := &Server{log: hclog.NewNullLogger()}
	app := fiber.New(fiber.Config{ErrorHandler: srv.handleError, BodyLimit: 1 << 20})
	for path, enc := range map[string]bodyEncodings{"/identity": identityOnly, "/compressed": gzipOrDeflate} {
		app.Post(path, func(c *fiber.Ctx) error {
			b, err := readBody(c, limit, enc)
			if err != nil {
				return err
			}
			return c.Send(b)
		})
	}
	small := []byte(`{"hello":"world"}`)
	atLimit := bytes.Repeat([]byte("a"), limit)
	over := bytes.Repeat([]byte("a"), limit+1)
	zeros := make([]byte, 10<<20) // a small bomb: 10 MB in about 10 KB
	tests := []struct {
		name     string
		path     string
		encoding []string
		body     []byte
		status   int
		want     []byte // the body handed to the handler, on 200
	}{
		{"plain", "/identity", nil, small, 200, small},
		{"plain at the limit", "/identity", nil, atLimit, 200, atLimit},
		{"plain over the limit", "/identity", nil, over, 413, nil},
		{"identity coding", "/identity", []string{"identity"}, small, 200, small},
		{"gzip where only identity is accepted", "/identity", []string{"gzip"}, gzipped(small), 415, nil},
		{"gzip", "/compressed", []string{"gzip"}, gzipped(small), 200, small},
		{"x-gzip, upper case", "/compressed", []string{"X-GZIP"}, gzipped(small), 200, small},
		{"gzip at the limit", "/compressed", []string{"gzip"}, gzipped(atLimit), 200, atLimit},
		{"gzip over the limit", "/compressed", []string{"gzip"}, gzipped(over), 413, nil},
		{"gzip bomb", "/compressed", []string{"gzip"}, gzipped(zeros), 413, nil},
		{"deflate", "/compressed", []string{"deflate"}, zlibbed(small), 200, small},
		{"deflate bomb", "/compressed", []string{"deflate"}, zlibbed(zeros), 413, nil},
		{"identity then gzip", "/compressed", []string{"identity, gzip"}, gzipped(small), 200, small},
		{"gzip twice", "/compressed", []string{"gzip, gzip"}, gzipped(gzipped(small)), 415, nil},
		{"gzip in two header lines", "/compressed", []string{"gzip", "deflate"}, gzipped(small), 415, nil},
		{"brotli", "/compressed", []string{"br"}, small, 415, nil},
		{"unknown coding", "/compressed", []string{"compress"}, small, 415, nil},
		{"not gzip", "/compressed", []string{"gzip"}, small, 400, nil},
		{"truncated gzip", "/compressed", []string{"gzip"}, gzipped(atLimit)[:20], 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tt.path, bytes.NewReader(tt.body))
			for _, e := range tt.encoding {
				req.Header.Add("Content-Encoding", e)
			}
			res, err := app.Test(req, 10000)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			got, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("= %d %s, want %d", res.StatusCode, got, tt.status)
			}
			if tt.status == 200 {
				if !bytes.Equal(got, tt.want) {
					t.Fatalf("handler got %d bytes, want %d", len(got), len(tt.want))
				}
				return
			}
			var e struct{ Error string }
			if json.Unmarshal(got, &e) != nil || e.Error == "" {
				t.Fatalf("error body %s is not {\"error\": ...}", got)
			}
		})
	}
}

// TestBodiesAreReadThroughReadBody fails when a handler reads a request body
// with Fiber's decoding readers, which inflate without a limit.
func TestBodiesAreReadThroughReadBody(t *testing.T) {
	unbounded := regexp.MustCompile(`\.(Body|BodyParser|BodyGunzip|BodyInflate|BodyUnbrotli|BodyUncompressed)\(`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "body.go" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			if unbounded.MatchString(line) && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("%s:%d reads the body without a limit (use readBody): %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
