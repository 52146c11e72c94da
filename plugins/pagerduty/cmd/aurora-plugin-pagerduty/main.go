// Command aurora-plugin-pagerduty is the PagerDuty provider plugin binary the hub starts.
package main

import (
	"fmt"
	"os"

	"github.com/aurora-hub/aurora-hub/plugins/pagerduty"
	"github.com/aurora-hub/aurora-hub/sdk"
)

func main() {
	cfg := pagerduty.ConfigFromEnv()
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "aurora-plugin-pagerduty: invalid configuration: %v\n", err)
		os.Exit(1)
	}
	sdk.Serve(pagerduty.New(cfg))
}
