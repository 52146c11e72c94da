package pluginhost

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/host"
)

// SumsFile pins plugin binaries: lines of `<sha256 hex>  <file name>`, as
// sha256sum writes them, in the plugin directory.
const SumsFile = "SHA256SUMS"

// Checksum statuses of a plugin binary.
const (
	// ChecksumVerified: SHA256SUMS pins the binary and it matches.
	ChecksumVerified = "verified"
	// ChecksumUnpinned: SHA256SUMS does not mention the binary.
	ChecksumUnpinned = "unpinned"
	// ChecksumMismatch: SHA256SUMS pins another checksum.
	ChecksumMismatch = "mismatch"
)

// Candidate is a plugin binary found in the plugin directory.
type Candidate struct {
	Name string
	Path string
}

// Discover lists the plugin binaries in dir: executable regular files named
// aurora-plugin-<name>, sorted by name.
func Discover(dir string) ([]Candidate, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading plugin directory: %w", err)
	}
	var out []Candidate
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), BinaryPrefix)
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			continue
		}
		out = append(out, Candidate{Name: name, Path: filepath.Join(dir, e.Name())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Sums maps a file name in the plugin directory to its pinned SHA-256 (hex).
type Sums map[string]string

// ReadSums reads dir/SHA256SUMS; a missing file pins nothing. A malformed
// line is an error: a pin file that cannot be read pins nothing reliably.
func ReadSums(dir string) (Sums, error) {
	b, err := os.ReadFile(filepath.Join(dir, SumsFile))
	if errors.Is(err, os.ErrNotExist) {
		return Sums{}, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseSums(b)
}

// ParseSums parses sha256sum output (text `<hex>  name` or binary
// `<hex> *name` lines; blank lines and # comments are skipped). Entries in
// other directories are ignored.
func ParseSums(b []byte) (Sums, error) {
	out := Sums{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		sum, rest, ok := strings.Cut(line, " ")
		if !ok || len(rest) < 2 || (rest[0] != ' ' && rest[0] != '*') {
			return nil, fmt.Errorf("%s line %d: want `<sha256>  <file name>`", SumsFile, n)
		}
		raw, err := hex.DecodeString(sum)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("%s line %d: %q is not a SHA-256 in hex", SumsFile, n, sum)
		}
		name := strings.TrimPrefix(rest[1:], "./")
		if name == "" || strings.Contains(name, "/") {
			continue
		}
		if prev, dup := out[name]; dup && prev != strings.ToLower(sum) {
			return nil, fmt.Errorf("%s line %d: %s is pinned twice with different checksums", SumsFile, n, name)
		}
		out[name] = strings.ToLower(sum)
	}
	return out, sc.Err()
}

// FileSHA256 returns the SHA-256 of the file at path, in hex.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Describe runs `<binary> describe` with an empty environment and returns
// the manifest it prints, without starting RPC.
func Describe(ctx context.Context, path string) (sdk.Manifest, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "describe")
	cmd.Env = []string{}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return sdk.Manifest{}, fmt.Errorf("running %s describe: %w (%s)", filepath.Base(path), err, strings.TrimSpace(stderr.String()))
	}
	var m sdk.Manifest
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		return sdk.Manifest{}, fmt.Errorf("%s describe printed no manifest: %w", filepath.Base(path), err)
	}
	return m, nil
}

// SupportedProtocols are the protocol versions this hub speaks, ascending.
func SupportedProtocols() []int {
	var out []int
	for v := range host.Plugins() {
		out = append(out, v)
	}
	sort.Ints(out)
	return out
}

func supportsProtocol(v int) bool {
	_, ok := host.Plugins()[v]
	return ok
}

// refusal is a reason never to run a binary (until it is replaced): a bad
// name, checksum, protocol version or manifest. Restarting cannot help.
type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

func refuse(format string, args ...any) error { return &refusal{reason: fmt.Sprintf(format, args...)} }

// IsRefusal reports whether err says the binary must not run.
func IsRefusal(err error) bool {
	var r *refusal
	return errors.As(err, &r)
}

// Check is what the host learns about a binary before it runs it as a
// plugin: the same steps for `aurora-hub serve`, SIGHUP and `plugins verify`.
type Check struct {
	Name     string
	Path     string
	SHA256   string
	Checksum string // ChecksumVerified, ChecksumUnpinned or ChecksumMismatch
	Manifest sdk.Manifest
	// Err is nil when the binary may run; IsRefusal(Err) when it must not.
	Err error
}

// Inspect checks a candidate without starting RPC: its name, its checksum
// against sums (before it runs at all), its `describe` manifest, protocol
// version and the configuration it asks for.
func Inspect(ctx context.Context, c Candidate, sums Sums, requireChecksum bool) Check {
	ch := Check{Name: c.Name, Path: c.Path}
	if !validName.MatchString(c.Name) || reserved[c.Name] {
		ch.Err = refuse("invalid or reserved provider name %q", c.Name)
		return ch
	}
	sum, err := FileSHA256(c.Path)
	if err != nil {
		ch.Err = fmt.Errorf("reading the binary: %w", err)
		return ch
	}
	ch.SHA256 = sum
	file := filepath.Base(c.Path)
	switch pinned, ok := sums[file]; {
	case ok && pinned == sum:
		ch.Checksum = ChecksumVerified
	case ok:
		ch.Checksum = ChecksumMismatch
		ch.Err = refuse("checksum mismatch: %s pins %s… for %s, the binary's SHA-256 is %s…", SumsFile, pinned[:12], file, sum[:12])
		return ch
	default:
		ch.Checksum = ChecksumUnpinned
		if requireChecksum {
			ch.Err = refuse("%s is not pinned in %s and HUB_PLUGIN_REQUIRE_CHECKSUM=true", file, SumsFile)
			return ch
		}
	}
	m, err := Describe(ctx, c.Path)
	if err != nil {
		ch.Err = err
		return ch
	}
	ch.Manifest = m
	ch.Err = checkManifest(c, m)
	return ch
}

func checkManifest(c Candidate, m sdk.Manifest) error {
	if m.Name != c.Name {
		return refuse("binary %s describes itself as %q", filepath.Base(c.Path), m.Name)
	}
	if !supportsProtocol(m.ProtocolVersion) {
		return refuse("plugin speaks protocol version %d, this hub speaks %v: rebuild it against a matching SDK", m.ProtocolVersion, SupportedProtocols())
	}
	for _, k := range m.ConfigKeys {
		if why := forbiddenConfigKey(k); why != "" {
			return refuse("manifest asks for %q: %s", k, why)
		}
	}
	return nil
}

// forbiddenConfigKey says why a plugin may not receive the variable k, or "".
// The hub's own configuration (database, encryption key, shared secrets,
// OAuth client secrets: the hub runs OAuth) never reaches a plugin.
func forbiddenConfigKey(k string) string {
	switch {
	case k == "" || strings.ContainsAny(k, "=\x00"):
		return "not a variable name"
	case strings.HasPrefix(k, "HUB_"):
		return "HUB_ variables are the hub's own configuration"
	case k == "INTERNAL_API_SECRET", k == "DATABASE_URL", strings.HasSuffix(k, "_DATABASE_URL"),
		k == "PGPASSWORD", strings.HasSuffix(k, "_CLIENT_SECRET"):
		return "a secret of the hub"
	}
	return ""
}

// InspectDir inspects every plugin binary in dir, as the host would before
// starting them (`aurora-hub plugins list` and `plugins verify`).
func InspectDir(ctx context.Context, dir string, requireChecksum bool) ([]Check, error) {
	cands, err := Discover(dir)
	if err != nil {
		return nil, err
	}
	sums, err := ReadSums(dir)
	if err != nil {
		return nil, err
	}
	out := make([]Check, 0, len(cands))
	for _, c := range cands {
		out = append(out, Inspect(ctx, c, sums, requireChecksum))
	}
	return out, nil
}
