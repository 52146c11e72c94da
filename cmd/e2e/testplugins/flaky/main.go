// Command flaky is a test plugin whose behaviour the end-to-end tests change
// while it runs: its one declared config key, <NAME>_CONTROL, names a file
// whose content, comma-separated words, it obeys:
//
//	ok          answer normally
//	slow=<d>    answer webhooks after d (e.g. slow=2s)
//	hang        never answer webhooks
//	crash       exit (status 3) on the next webhook
//	die         exit at start, before the handshake
//
// Its provider name is its binary's name without aurora-plugin-, so one
// build can be installed under several names.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/hashicorp/go-hclog"
)

var version = "1.0.0"

type flaky struct {
	name string
	log  hclog.Logger
}

func controlKey(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_CONTROL"
}

// control returns the words of the control file.
func (f *flaky) control() []string {
	b, err := os.ReadFile(os.Getenv(controlKey(f.name)))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(b)), ",")
}

func (f *flaky) has(word string) bool {
	for _, w := range f.control() {
		if w == word {
			return true
		}
	}
	return false
}

func (f *flaky) Manifest() sdk.Manifest {
	return sdk.Manifest{
		Name: f.name, DisplayName: "Flaky " + f.name, Version: version,
		AuthKinds: []string{sdk.AuthAPIToken}, WebhookEventTypes: []string{"incident.triggered"},
		ConfigKeys: []string{controlKey(f.name)},
	}
}

func (f *flaky) ValidateCredentials(_ context.Context, creds sdk.Credentials) (*sdk.Validation, error) {
	if !strings.HasPrefix(creds.Token, "good-") {
		return nil, sdk.Errorf(sdk.CodeUnauthenticated, "Invalid token")
	}
	return &sdk.Validation{Identity: sdk.Identity{AccountID: "acct-" + f.name, AccountSubdomain: f.name}}, nil
}

// HandleWebhook accepts {"id": ..., "title": ...} signed with the secret
// itself in X-Flaky-Secret.
func (f *flaky) HandleWebhook(ctx context.Context, req *sdk.WebhookRequest) (*sdk.WebhookResult, error) {
	f.log.Info("webhook received")
	for _, w := range f.control() {
		switch {
		case w == "hang":
			f.log.Info("hanging on purpose")
			select {}
		case w == "crash":
			f.log.Error("crashing on purpose")
			os.Exit(3)
		case strings.HasPrefix(w, "slow="):
			d, _ := time.ParseDuration(strings.TrimPrefix(w, "slow="))
			time.Sleep(d)
		}
	}
	verified := false
	for _, s := range req.Secrets {
		if s == req.HeaderValue("X-Flaky-Secret") {
			verified = true
		}
	}
	if !verified && !req.AllowUnsigned {
		return nil, sdk.Errorf(sdk.CodeUnauthenticated, "Invalid signature")
	}
	var body struct{ ID, Title string }
	if err := json.Unmarshal(req.Body, &body); err != nil || body.ID == "" {
		return nil, sdk.Errorf(sdk.CodeInvalid, "Invalid body")
	}
	now := time.Now().UTC()
	f.log.Info("webhook handled", "incident", body.ID)
	return &sdk.WebhookResult{Verified: verified, DeliveryID: "d-" + body.ID, Events: []sdk.Event{{
		ID: "ev-" + body.ID, Type: "incident.triggered", ResourceType: "incident", OccurredAt: now,
		Incident: &sdk.Incident{ExternalID: body.ID, Title: body.Title, Status: "triggered", Urgency: "high", CreatedAt: now},
		Data:     req.Body,
	}}}, nil
}

func main() {
	name := strings.TrimPrefix(filepath.Base(os.Args[0]), "aurora-plugin-")
	f := &flaky{name: name, log: hclog.New(&hclog.LoggerOptions{Name: name, Output: os.Stderr, JSONFormat: true})}
	if len(os.Args) < 2 || os.Args[1] != "describe" {
		if f.has("die") {
			fmt.Fprintln(os.Stderr, "dying at start on purpose")
			os.Exit(4)
		}
		f.log.Info("flaky plugin serving", "pid", os.Getpid())
	}
	sdk.Serve(f, sdk.WithLogger(f.log))
}
