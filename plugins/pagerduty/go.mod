module github.com/aurora-hub/aurora-hub/plugins/pagerduty

go 1.26.8

toolchain go1.26.10

require (
	github.com/aurora-hub/aurora-hub/sdk v0.0.0
	github.com/aurora-hub/aurora-hub/tools/pdsim v0.0.0
	github.com/go-json-experiment/json v1.27.2
	github.com/hashicorp/go-hclog v1.6.3
)

require github.com/hashicorp/go-plugin v1.8.0 // indirect

require (
	github.com/fatih/color v1.13.0 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/hashicorp/yamux v0.1.2 // indirect
	github.com/mattn/go-colorable v0.1.12 // indirect
	github.com/mattn/go-isatty v0.0.17 // indirect
	github.com/oklog/run v1.1.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/grpc v1.85.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/aurora-hub/aurora-hub/sdk => ../../sdk

replace github.com/aurora-hub/aurora-hub/tools/pdsim => ../../tools/pdsim
