package httpapi

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"strings"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/gofiber/fiber/v2"
)

// Every handler reads its request body through readBody, never c.Body():
// Fiber's c.Body() inflates a gzip, deflate or brotli body whatever its
// size (fasthttp's BodyGunzip and friends have no limit, and BodyLimit only
// bounds the bytes on the wire), so 500 KB of compressed zeros became
// 500 MB in memory before any size check. TestBodiesAreReadThroughReadBody
// keeps it that way.

// bodyEncodings says which Content-Encodings a route decodes.
type bodyEncodings int

const (
	// identityOnly refuses any content coding with 415: the frontend's
	// server sends plain JSON, so a compressed body to a management route
	// is nobody's honest request.
	identityOnly bodyEncodings = iota
	// gzipOrDeflate also decodes gzip and deflate (zlib), for webhook
	// senders behind a compressing proxy. Brotli is refused: its decoder
	// may need a 16 MB window per request, gzip and deflate 32 KB.
	gzipOrDeflate
)

// readBody returns the request body, decoded as its Content-Encoding says
// when enc allows it, and never more than limit bytes of it: decoding stops
// at limit+1 bytes and the request is answered 413. An encoding enc does not
// allow, or more than one coding, is answered 415; a body that does not
// decode, 400.
func readBody(c *fiber.Ctx, limit int, enc bodyEncodings) ([]byte, error) {
	raw := c.Request().Body()
	coding, err := contentCoding(c)
	if err != nil {
		return nil, err
	}
	if coding == "" {
		if len(raw) > limit {
			return nil, tooLarge(limit)
		}
		return raw, nil
	}
	if enc != gzipOrDeflate {
		return nil, fiber.NewError(fiber.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %s is not accepted here: send the body uncompressed", coding))
	}
	var r io.ReadCloser
	switch coding {
	case "gzip", "x-gzip":
		r, err = gzip.NewReader(bytes.NewReader(raw))
	case "deflate":
		r, err = zlib.NewReader(bytes.NewReader(raw))
	default:
		return nil, fiber.NewError(fiber.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %s is not supported (gzip or deflate)", coding))
	}
	if err != nil {
		return nil, hub.Errorf(hub.EInvalid, "Request body is not valid %s: %v", coding, err)
	}
	defer r.Close()
	var out bytes.Buffer
	n, err := out.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if n > int64(limit) {
		return nil, tooLarge(limit)
	}
	if err != nil {
		return nil, hub.Errorf(hub.EInvalid, "Request body is not valid %s: %v", coding, err)
	}
	return out.Bytes(), nil
}

// contentCoding is the request's one content coding, lower case; "" for
// none or identity. Stacked codings are refused: no sender needs them and
// each one multiplies what a small body can become.
func contentCoding(c *fiber.Ctx) (string, error) {
	var codings []string
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderContentEncoding) {
		for _, s := range strings.Split(string(v), ",") {
			if s = strings.ToLower(strings.TrimSpace(s)); s != "" && s != "identity" {
				codings = append(codings, s)
			}
		}
	}
	switch len(codings) {
	case 0:
		return "", nil
	case 1:
		return codings[0], nil
	default:
		return "", fiber.NewError(fiber.StatusUnsupportedMediaType, "Content-Encoding with more than one coding is not accepted")
	}
}

func tooLarge(limit int) error {
	return hub.Errorf(hub.ETooLarge, "Request body exceeds %d KB", limit>>10)
}
