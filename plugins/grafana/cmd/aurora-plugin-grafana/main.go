// Command aurora-plugin-grafana is the Grafana Alerting provider plugin binary the hub starts.
package main

import (
	"github.com/aurora-hub/aurora-hub/plugins/grafana"
	"github.com/aurora-hub/aurora-hub/sdk"
)

func main() { sdk.Serve(grafana.New()) }
