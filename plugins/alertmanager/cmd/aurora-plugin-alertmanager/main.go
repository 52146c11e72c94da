// Command aurora-plugin-alertmanager is the Prometheus Alertmanager provider plugin binary the hub starts.
package main

import (
	"github.com/aurora-hub/aurora-hub/plugins/alertmanager"
	"github.com/aurora-hub/aurora-hub/sdk"
)

func main() { sdk.Serve(alertmanager.New()) }
